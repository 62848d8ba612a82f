using Sparkle.Tensors;
using Sparkle.Tensors.Backend;
using Xunit;

namespace Sparkle.Tests;

/// <summary>Shape, dtype and device errors name both operands.</summary>
public class ElementwiseErrorTests
{
    [Fact]
    public void BroadcastFailureNamesBothShapesAndTheOp()
    {
        var a = Tensor.Ones([2, 3]);
        var b = Tensor.Ones([4]);
        foreach (var f in new Func<Tensor>[] { () => a + b, () => a.Lt(b), () => a.Maximum(b), () => Tensor.Where(a.Gt(0), a, b) })
        {
            var ex = Assert.Throws<ArgumentException>(f);
            Assert.Contains("(2, 3)", ex.Message);
            Assert.Contains("(4)", ex.Message);
        }
        Assert.StartsWith("Add:", Assert.Throws<ArgumentException>(() => a + b).Message);
        var m = Assert.Throws<ArgumentException>(() => Tensor.Ones([3]).MaskedFill(Tensor.Ones([2, 3], DType.Bool), 0));
        Assert.Contains("(2, 3)", m.Message);
    }

    [Fact]
    public void DtypeErrorsAreClear()
    {
        Assert.Contains("bool", Assert.Throws<InvalidOperationException>(() => Tensor.Where(Tensor.Ones([2]), Tensor.Ones([2]), Tensor.Ones([2]))).Message);
        Assert.Contains("bool", Assert.Throws<InvalidOperationException>(() => Tensor.Ones([2], DType.Bool).Neg()).Message);
        Assert.Throws<ArgumentException>(() => Tensor.Ones([2]).Clamp());
    }

    [Fact]
    public void MixingDevicesNamesBothDevicesAndShapes()
    {
        var other = new FakeBackend();
        Backends.Register(other);
        var remote = new Tensor(new FakeStorage(other, 6), 0, [2, 3], [3, 1]);
        var local = Tensor.Ones([3]);
        foreach (var f in new Func<Tensor>[] { () => local + remote, () => remote * local, () => local.Lt(remote), () => local.Add_(remote) })
        {
            var ex = Assert.Throws<InvalidOperationException>(f);
            Assert.Contains("cpu", ex.Message);
            Assert.Contains(other.Device.ToString(), ex.Message);
            Assert.Contains("(2, 3)", ex.Message);
            Assert.Contains("(3)", ex.Message);
        }
    }

    private sealed class FakeStorage(IBackend backend, int length) : Storage
    {
        public override IBackend Backend => backend;
        public override DType DType => DType.Float32;
        public override int Length => length;
    }

    /// <summary>A device that only exists to be mixed up with the CPU; every op would be a bug.</summary>
    private sealed class FakeBackend : IBackend
    {
        public Device Device { get; } = new(DeviceKind.IlgpuCpu, 41);
        public Storage Allocate(DType dtype, int length) => new FakeStorage(this, length);
        public Storage FromHost<T>(ReadOnlySpan<T> data) where T : unmanaged => new FakeStorage(this, data.Length);
        public void CopyToHost<T>(Tensor src, Span<T> dst) where T : unmanaged => throw new NotSupportedException();
        public void Copy(Tensor src, Tensor dst) => throw new NotSupportedException();
        public void Fill(Tensor dst, double value) => throw new NotSupportedException();
        public void Unary(UnaryOp op, Tensor x, Tensor dst, double p0 = 0, double p1 = 0) => throw new NotSupportedException();
        public void Binary(BinaryOp op, Tensor a, Tensor b, Tensor dst) => throw new NotSupportedException();
        public void Where(Tensor cond, Tensor a, Tensor b, Tensor dst) => throw new NotSupportedException();
        public void Reduce(ReduceOp op, Tensor x, ReadOnlySpan<int> axes, Tensor dst, int correction = 0) => throw new NotSupportedException();
        public void ArgReduce(ArgReduceOp op, Tensor x, int axis, Tensor dst) => throw new NotSupportedException();
        public void MatMul(Tensor a, Tensor b, Tensor dst, bool accumulate = false) => throw new NotSupportedException();
        public void IndexSelect(Tensor x, int dim, Tensor index, Tensor dst) => throw new NotSupportedException();
        public void Gather(Tensor x, int dim, Tensor index, Tensor dst) => throw new NotSupportedException();
        public void ScatterAdd(Tensor dst, int dim, Tensor index, Tensor src) => throw new NotSupportedException();
        public void Random(RandomSpec spec, Tensor dst, ulong seed, ulong offset) => throw new NotSupportedException();
    }
}
