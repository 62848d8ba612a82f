using Sparkle.Tensors.Cpu;
using Xunit;

namespace Sparkle.Tests;

/// <summary>The instruction-set option: SPARKLE_ISA's names, and what each family runs.</summary>
public class CpuIsaTests
{
    [Theory]
    [InlineData("avx512", CpuIsa.Avx512)]
    [InlineData("AVX2", CpuIsa.Avx2)]
    [InlineData(" v128 ", CpuIsa.V128)]
    [InlineData("scalar", CpuIsa.Scalar)]
    [InlineData("", CpuIsa.Auto)]
    [InlineData(null, CpuIsa.Auto)]
    public void ParsesTheSettingsNames(string? value, CpuIsa expected) => Assert.Equal(expected, CpuIsas.Parse(value));

    [Fact]
    public void AnUnknownNameIsAClearError()
    {
        var e = Assert.Throws<ArgumentException>(() => CpuIsas.Parse("neon"));
        Assert.Contains("SPARKLE_ISA=neon", e.Message);
        Assert.Contains(CpuIsas.Names, e.Message);
    }

    [Theory]
    [InlineData(CpuIsa.Avx512, "Vector512", 512)]
    [InlineData(CpuIsa.Avx2, "Vector256", 256)]
    [InlineData(CpuIsa.V128, "Vector128", 128)]
    [InlineData(CpuIsa.Scalar, "Scalar", 0)]
    public void EachFamilyNamesItsKernels(CpuIsa isa, string gemm, int width)
    {
        var o = new CpuKernelOptions { Isa = isa };
        Assert.Equal(gemm, o.GemmKernel.ToString());
        Assert.Equal(width, (int)o.Width);
    }

    [Fact]
    public void AutoIsTheHostsBest()
    {
        var auto = new CpuKernelOptions();
        Assert.Equal(CpuIsas.Host, auto.ResolvedIsa);
        Assert.Equal(new CpuKernelOptions { Isa = CpuIsas.Host }.GemmKernel, auto.GemmKernel);
        Assert.NotEqual(CpuIsa.Auto, CpuIsas.Host);
    }
}
