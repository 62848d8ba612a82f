using Sparkle.Tensors.Backend;

namespace Sparkle.Tensors;

/// <summary>A flat buffer of elements on one device. Tensors are strided views over a storage.</summary>
public abstract class Storage
{
    public abstract IBackend Backend { get; }
    public Device Device => Backend.Device;
    public abstract DType DType { get; }
    /// <summary>Number of elements.</summary>
    public abstract int Length { get; }

    /// <summary>Counts in-place writes through the tensor API; autograd compares it with the value it saw when it
    /// saved a tensor for backward, so gradients are never computed from overwritten data.</summary>
    internal int Version { get; set; }
}
