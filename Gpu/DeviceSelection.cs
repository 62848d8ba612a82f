using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using Sparkle.Tensors;

namespace Sparkle.Gpu;

/// <summary>
/// Maps a Sparkle <see cref="DeviceKind"/> and index to one ILGPU device. Each kind only ever looks at its own
/// device list: Cuda at CUDA devices, OpenCL at OpenCL *GPU* devices, IlgpuCpu at ILGPU's CPU simulator. So a
/// missing GPU is an error that says what was found, never a silent fallback to a CPU device.
/// </summary>
internal static class DeviceSelection
{
    public static (Context Context, ILGPU.Runtime.Device Device) Open(DeviceKind kind, int index)
    {
        if (kind == DeviceKind.Cuda) MapLibCuda();
        var context = kind switch
        {
            DeviceKind.Cuda => Context.Create(b => b.Cuda().EnableAlgorithms()),
            DeviceKind.OpenCL => Context.Create(b => b.OpenCL().EnableAlgorithms()),
            DeviceKind.IlgpuCpu => Context.Create(b => b.CPU().EnableAlgorithms()),
            _ => throw new ArgumentException($"ILGPU backend: device kind {kind} is not an ILGPU device (use Cuda, OpenCL or IlgpuCpu)."),
        };
        var devices = kind switch
        {
            DeviceKind.Cuda => List(context.GetCudaDevices(), _ => true),
            DeviceKind.OpenCL => List(context.GetCLDevices(), d => d.DeviceType == CLDeviceType.CL_DEVICE_TYPE_GPU),
            _ => List(context.GetCPUDevices(), _ => true),
        };
        if (index < 0 || index >= devices.Count)
        {
            context.Dispose();
            throw new InvalidOperationException(
                $"ILGPU backend: no {kind} device with index {index}; found {devices.Count}" +
                (devices.Count > 0 ? $": {string.Join(", ", devices.Select(d => d.Name))}." : "."));
        }
        return (context, devices[index]);
    }

    private static List<ILGPU.Runtime.Device> List<TDevice>(Context.DeviceCollection<TDevice> devices, Func<TDevice, bool> keep)
        where TDevice : ILGPU.Runtime.Device
    {
        var list = new List<ILGPU.Runtime.Device>();
        foreach (var d in devices) if (keep(d)) list.Add(d);
        return list;
    }

    private static int _resolverSet;

    /// <summary>.NET probes for libcuda.so, which driver-only machines lack (they have libcuda.so.1).</summary>
    private static void MapLibCuda()
    {
        if (Interlocked.Exchange(ref _resolverSet, 1) != 0) return;
        try
        {
            NativeLibrary.SetDllImportResolver(typeof(Context).Assembly, (name, asm, path) =>
                name is "cuda" or "nvcuda" && NativeLibrary.TryLoad("libcuda.so.1", out var h) ? h : IntPtr.Zero);
        }
        catch (InvalidOperationException) { /* someone else installed a resolver; keep theirs */ }
    }
}
