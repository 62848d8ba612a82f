using System.Diagnostics.Tracing;

namespace Sparkle.Benchmarks.Quick;

/// <summary>Samples the runtime's GC AllocationTick events (one per ~100 KB allocated) by type name: a cheap, in-process
/// answer to "what is still allocated on the managed heap" (`quick spark allocticks=1`).</summary>
internal sealed class AllocationTicks : EventListener
{
    private readonly Dictionary<string, long> _bytes = [];
    private bool _on;

    public void Start() { lock (_bytes) { _bytes.Clear(); _on = true; } }

    public IEnumerable<(string Type, long Bytes)> Stop()
    {
        lock (_bytes) { _on = false; return _bytes.OrderByDescending(kv => kv.Value).Select(kv => (kv.Key, kv.Value)).ToList(); }
    }

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime") EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x1);
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (e.EventName is null || !e.EventName.StartsWith("GCAllocationTick") || e.Payload is null) return;
        int typeIndex = e.PayloadNames!.IndexOf("TypeName"), amountIndex = e.PayloadNames.IndexOf("AllocationAmount64");
        if (typeIndex < 0 || amountIndex < 0) return;
        string type = e.Payload[typeIndex] as string ?? "?";
        long amount = Convert.ToInt64(e.Payload[amountIndex]);
        lock (_bytes) { if (_on) _bytes[type] = _bytes.GetValueOrDefault(type) + amount; }
    }
}
