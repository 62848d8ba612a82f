namespace Sparkle.Tensors;

public enum DeviceKind { Cpu, Cuda, OpenCL, IlgpuCpu }

/// <summary>Where a tensor's storage lives. Ops never move data between devices implicitly.</summary>
public readonly record struct Device(DeviceKind Kind, int Index = 0)
{
    public static Device Cpu { get; } = new(DeviceKind.Cpu);

    public override string ToString() => Kind switch
    {
        DeviceKind.Cpu => "cpu",
        DeviceKind.Cuda => $"cuda:{Index}",
        DeviceKind.OpenCL => $"opencl:{Index}",
        DeviceKind.IlgpuCpu => $"ilgpu-cpu:{Index}",
        _ => $"{Kind}:{Index}",
    };
}
