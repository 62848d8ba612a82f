using Sparkle.Gpu;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.Cli;

/// <summary>The requested device is not present (e.g. --device cuda without a CUDA driver or card): exit code 1.</summary>
public sealed class DeviceUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The `--device` of a training command, open for the run: <c>cpu</c> (the CPU backend), or one ILGPU device
/// (<c>cuda</c>, <c>opencl</c>, <c>ilgpu-cpu</c>, optionally <c>:INDEX</c>) chosen explicitly by <see cref="IlgpuBackend.Create"/>:
/// each kind looks only at its own devices, so a missing GPU is an error naming what was found, never a fallback.
/// Model, batches and masks are moved with <see cref="Upload"/>; each training step runs inside the device's step scope
/// (<c>IBackend.BeginStep</c>, on ILGPU GpuMemory.Scope: the step's dead device storages go back to the pool at its end,
/// docs/gpu.md "Memory"): Pretrainer.Step opens it, fine-tuning through <see cref="StepScope"/>.
/// </summary>
public sealed class DeviceSession : IDisposable
{
    private readonly IlgpuBackend? _owned;

    private DeviceSession(Device device, IlgpuBackend? owned) { Device = device; _owned = owned; }

    public Device Device { get; }
    public bool IsCpu => Device == Device.Cpu;

    /// <summary>Parses "cpu", "cuda", "opencl", "ilgpu-cpu", each optionally with ":INDEX"; null when the name is unknown.</summary>
    public static Device? ParseName(string name)
    {
        string kindName = name;
        int index = 0;
        int colon = name.IndexOf(':', StringComparison.Ordinal);
        if (colon >= 0)
        {
            kindName = name[..colon];
            if (!int.TryParse(name[(colon + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out index)) return null;
        }
        DeviceKind? kind = kindName switch
        {
            "cpu" => DeviceKind.Cpu,
            "cuda" => DeviceKind.Cuda,
            "opencl" => DeviceKind.OpenCL,
            "ilgpu-cpu" => DeviceKind.IlgpuCpu,
            _ => null,
        };
        if (kind is null || (kind == DeviceKind.Cpu && index != 0)) return null;
        return new Device(kind.Value, index);
    }

    /// <summary>Opens the device. An ILGPU device already registered in this process (e.g. by a test fixture) is reused and
    /// left open; otherwise this session creates it and closes it on Dispose.</summary>
    public static DeviceSession Open(string name, string command)
    {
        var device = ParseName(name) ?? throw new UsageException($"{command}: unknown --device '{name}'. Known: cpu, cuda, opencl, ilgpu-cpu (optionally :INDEX).");
        if (device == Device.Cpu) return new DeviceSession(device, null);
        try
        {
            if (Backends.For(device) is IlgpuBackend) return new DeviceSession(device, null);
        }
        catch (InvalidOperationException) { /* not registered yet */ }
        try
        {
            var backend = IlgpuBackend.Create(device.Kind, device.Index);
            return new DeviceSession(device, backend);
        }
        catch (Exception e) when (e is InvalidOperationException or DllNotFoundException or TypeInitializationException or NotSupportedException
                                      || e.GetType().Namespace?.StartsWith("ILGPU", StringComparison.Ordinal) == true)
        {
            throw new DeviceUnavailableException($"{command}: --device {name} is not available: {e.Message} " +
                                                 "Use --device cpu (or ilgpu-cpu, ILGPU's CPU simulator, slow).", e);
        }
    }

    /// <summary>The tensor on this device (the same tensor when it is already there).</summary>
    public Tensor Upload(Tensor t) => t.Device == Device ? t : t.To(Device);

    /// <summary>Around each fine-tuning step and evaluation batch: the device's step scope (an ILGPU device's GpuMemory scope,
    /// on the CPU nothing). Pretrainer.Step opens it itself.</summary>
    public IDisposable? StepScope() => Backends.For(Device).BeginStep();

    public void Dispose() => _owned?.Dispose();
}
