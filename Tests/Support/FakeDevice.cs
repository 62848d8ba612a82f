using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.Tests.Support;

/// <summary>
/// A second "device" for testing the seam: it only stores data (host arrays behind a non-CPU device id),
/// so any op that reaches it without an explicit To() fails loudly.
/// </summary>
public sealed class FakeBackend : IBackend
{
    public static readonly Device FakeDevice = new(DeviceKind.IlgpuCpu, 99);
    public static FakeBackend Instance { get; } = Register();

    private static FakeBackend Register() { var b = new FakeBackend(); Backends.Register(b); return b; }

    private sealed class FakeStorage(Array data, DType dtype) : Storage
    {
        public Array Data { get; } = data;
        public override IBackend Backend => Instance;
        public override DType DType { get; } = dtype;
        public override int Length => Data.Length;
    }

    public Device Device => FakeDevice;
    public Storage Allocate(DType dtype, int length, bool zeroed = true) => new FakeStorage(Array.CreateInstance(dtype.ClrType(), length), dtype);
    public Storage FromHost<T>(ReadOnlySpan<T> data) where T : unmanaged => new FakeStorage(data.ToArray(), DTypes.Of<T>());

    public void CopyToHost<T>(Tensor src, Span<T> dst) where T : unmanaged
    {
        if (!src.IsContiguous) throw new NotSupportedException("fake device: contiguous only");
        ((T[])((FakeStorage)src.Storage).Data).AsSpan(src.Offset, src.NumElements).CopyTo(dst);
    }

    private static Exception No(string op) => new NotSupportedException($"fake device has no kernel for {op}");
    public void Copy(Tensor src, Tensor dst) => throw No(nameof(Copy));
    public void Fill(Tensor dst, double value) => throw No(nameof(Fill));
    public void Unary(UnaryOp op, Tensor x, Tensor dst, double p0 = 0, double p1 = 0) => throw No(nameof(Unary));
    public void Binary(BinaryOp op, Tensor a, Tensor b, Tensor dst) => throw No(nameof(Binary));
    public void Where(Tensor cond, Tensor a, Tensor b, Tensor dst) => throw No(nameof(Where));
    public void Reduce(ReduceOp op, Tensor x, ReadOnlySpan<int> axes, Tensor dst, int correction = 0) => throw No(nameof(Reduce));
    public void ArgReduce(ArgReduceOp op, Tensor x, int axis, Tensor dst) => throw No(nameof(ArgReduce));
    public void MatMul(Tensor a, Tensor b, Tensor dst, bool accumulate = false) => throw No(nameof(MatMul));
    public void IndexSelect(Tensor x, int dim, Tensor index, Tensor dst) => throw No(nameof(IndexSelect));
    public void Gather(Tensor x, int dim, Tensor index, Tensor dst) => throw No(nameof(Gather));
    public void ScatterAdd(Tensor dst, int dim, Tensor index, Tensor src) => throw No(nameof(ScatterAdd));
    public void Random(RandomSpec spec, Tensor dst, ulong seed, ulong offset) => throw No(nameof(Random));
}
