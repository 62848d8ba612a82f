using System.Collections.Concurrent;
using Sparkle.Tensors.Cpu;

namespace Sparkle.Tensors.Backend;

/// <summary>Registry of device backends. The CPU backend is always present; a GPU backend registers itself.</summary>
public static class Backends
{
    private static readonly ConcurrentDictionary<Device, IBackend> Registered = new() { [Device.Cpu] = CpuBackend.Instance };

    public static void Register(IBackend backend) => Registered[backend.Device] = backend;

    public static IBackend For(Device device) =>
        Registered.TryGetValue(device, out var b) ? b
        : throw new InvalidOperationException($"No backend is registered for device {device}. Registered: {string.Join(", ", Registered.Keys)}.");
}
