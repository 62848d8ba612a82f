using Sparkle.Autograd;
using Sparkle.Tensors;

namespace Sparkle.Nn.Parallel;

/// <summary>Collectives on whole tensors (float32, float64, int64). A contiguous host tensor is reduced in place; any
/// other (a device tensor, a strided view) is staged through a host copy and written back — for now also on a GPU,
/// until a device-side (NCCL) communicator exists.</summary>
public static class TensorCollectives
{
    public static void AllReduceSum(this ICommunicator group, Tensor t) => Apply(group, t, reduce: true, root: 0);

    public static void Broadcast(this ICommunicator group, Tensor t, int root = 0) => Apply(group, t, reduce: false, root);

    /// <summary>Every parameter and buffer of <paramref name="module"/> from <paramref name="root"/>, in state-dict order
    /// (the start of a data-parallel run: every rank then holds rank 0's initialisation or checkpoint).</summary>
    public static void BroadcastState(this ICommunicator group, Module module, int root = 0)
    {
        using var _ = GradMode.NoGrad();
        foreach (var (_, p) in module.NamedParameters()) group.Broadcast(p, root);
        foreach (var (_, b) in module.NamedBuffers()) group.Broadcast(b, root);
    }

    /// <summary>The mean of a scalar over the group (a loss for logs and for the common NaN stop).</summary>
    public static double Mean(this ICommunicator group, double value)
    {
        if (group.Size == 1) return value;
        Span<double> v = [value];
        group.AllReduceSum(v);
        return v[0] / group.Size;
    }

    private static void Apply(ICommunicator group, Tensor t, bool reduce, int root)
    {
        if (group.Size == 1 || t.NumElements == 0) return;
        bool inPlace = t.Device == Device.Cpu && t.IsContiguous;
        var host = inPlace ? t : t.Contiguous().To(Device.Cpu);
        switch (host.DType)
        {
            case DType.Float32: Run(group, host.HostSpan<float>(), reduce, root); break;
            case DType.Float64: Run(group, host.HostSpan<double>(), reduce, root); break;
            case DType.Int64: Run(group, host.HostSpan<long>(), reduce, root); break;
            default: throw new NotSupportedException($"Collectives support float32, float64 and int64 tensors, got {host.DType.Name()} {ShapeUtil.Format(t.Shape)}.");
        }
        if (!inPlace)
            using (GradMode.NoGrad()) t.Copy_(host.To(t.Device));
    }

    private static void Run(ICommunicator g, Span<float> s, bool reduce, int root) { if (reduce) g.AllReduceSum(s); else g.Broadcast(s, root); }
    private static void Run(ICommunicator g, Span<double> s, bool reduce, int root) { if (reduce) g.AllReduceSum(s); else g.Broadcast(s, root); }
    private static void Run(ICommunicator g, Span<long> s, bool reduce, int root) { if (reduce) g.AllReduceSum(s); else g.Broadcast(s, root); }
}
