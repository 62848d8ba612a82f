using System.Text.RegularExpressions;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using Sparkle.Gpu.Kernels;
using Xunit;
using Xunit.Abstractions;

namespace Sparkle.Tests.Gpu;

/// <summary>The TF32 tensor-core GEMM (docs/gpu.md "Tensor cores (TF32)"): its PTX, the fragment mapping against the
/// PTX ISA table, and the kernel on the warp-32 CPU simulator (emulated mma) against a host TF32 reference.</summary>
public class Tf32PtxTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(80)]
    [InlineData(90)]
    public void PtxHasTensorCoreMmaAndNoLocalMemoryInTheMainLoop(int sm)
    {
        var arch = sm == 80 ? CudaArchitecture.SM_80 : CudaArchitecture.SM_90;
        using var context = Context.Create(b => b.EnableAlgorithms());
        using var backend = new PTXBackend(context, new CudaCapabilityContext(arch), arch, CudaInstructionSet.ISA_80, null!);
        var kernels = Tf32Kernels.Catalog().ToArray();
        Assert.Equal(4, kernels.Length);                     // matmul, conv forward, input gradient, weight gradient
        foreach (var kernel in kernels)
        {
            var compiled = (PTXCompiledKernel)backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(kernel), KernelSpecialization.Empty);
            string ptx = compiled.PTXAssembly;
            // The generic Gemm entries by their A operand, the conv gradient entries by name.
            string name = kernel.IsGenericMethod ? kernel.GetGenericArguments()[0].Name.Split('`')[0] : kernel.Name;
            if (Environment.GetEnvironmentVariable("SPARKLE_PTX_DUMP") is string dir)
                File.WriteAllText(Path.Combine(dir, $"sm{sm}_tf32_{name}.ptx"), ptx);
            // Two k8 steps per K tile, each one asm block of 16 mma.
            Assert.Equal(32, Regex.Matches(ptx, @"mma\.sync\.aligned\.m16n8k8\.row\.col\.f32\.tf32\.tf32\.f32").Count);
            Assert.Equal(48, Regex.Matches(ptx, @"cvt\.rna\.tf32\.f32").Count);
            // The main loop (fragment cvt .. last mma) has no local-memory traffic: accumulators and fragments are named PTX
            // registers and the asm statements take only inputs. What remains is outside it: the epilogue's 64 asm `out`
            // reads (ILGPU stores each to a local slot and loads it back) and the emulation branch, dead on CUDA
            // (its predicate is the constant `setp.ne.s32 %p, 1, 1`, removed by ptxas).
            int first = ptx.IndexOf("cvt.rna.tf32.f32", StringComparison.Ordinal), last = ptx.LastIndexOf("mma.sync", StringComparison.Ordinal);
            string loop = ptx[first..last];
            Assert.DoesNotContain("ld.local", loop);
            Assert.DoesNotContain("st.local", loop);
            Assert.Equal(64, Regex.Matches(ptx, @"mov\.f32\s+%f\d+, tfc\d+;").Count);
            output.WriteLine($"sm_{sm} {name}: {ptx.Length} chars, ld.local {Regex.Matches(ptx, @"ld\.local").Count}, st.local {Regex.Matches(ptx, @"st\.local").Count}");
        }
    }
}

/// <summary>Host checks of <see cref="Tf32Fragment"/> against the PTX ISA's m16n8k8 .tf32 fragment table, written here
/// as the inverse map (which lane and register hold element (row, col)).</summary>
public class Tf32FragmentTests
{
    [Fact]
    public void MappingMatchesThePtxIsaTable()
    {
        var seenA = new HashSet<(int, int)>();
        var seenB = new HashSet<(int, int)>();
        var seenC = new HashSet<(int, int)>();
        for (int lane = 0; lane < 32; lane++)
        {
            for (int r = 0; r < 4; r++)
            {
                int row = Tf32Fragment.ARow(lane, r), col = Tf32Fragment.ACol(lane, r);
                Assert.Equal(((row % 8) * 4 + col % 4, row / 8 + 2 * (col / 4)), (lane, r));
                seenA.Add((row, col));
                row = Tf32Fragment.CRow(lane, r); col = Tf32Fragment.CCol(lane, r);
                Assert.Equal(((row % 8) * 4 + col / 2, (row / 8) * 2 + col % 2), (lane, r));
                seenC.Add((row, col));
            }
            for (int r = 0; r < 2; r++)
            {
                int k = Tf32Fragment.BRow(lane, r), n = Tf32Fragment.BCol(lane, r);
                Assert.Equal((n * 4 + k % 4, k / 4), (lane, r));
                seenB.Add((k, n));
            }
        }
        Assert.Equal(128, seenA.Count);   // 16x8 A, 8x8 B, 16x8 C: every element exactly once
        Assert.Equal(64, seenB.Count);
        Assert.Equal(128, seenC.Count);
        Assert.All(seenA, e => Assert.True(e.Item1 < 16 && e.Item2 < 8));
        Assert.All(seenB, e => Assert.True(e.Item1 < 8 && e.Item2 < 8));
        Assert.All(seenC, e => Assert.True(e.Item1 < 16 && e.Item2 < 8));
    }

    [Fact]
    public void RoundTf32IsRoundToNearestTiesAway()
    {
        Assert.Equal(1.0f, Tf32Fragment.RoundTf32(1.0f + MathF.Pow(2, -12)));               // below half an ulp (2^-11)
        Assert.Equal(1.0f + MathF.Pow(2, -10), Tf32Fragment.RoundTf32(1.0f + MathF.Pow(2, -11)));   // tie: away from zero
        Assert.Equal(-1.0f - MathF.Pow(2, -10), Tf32Fragment.RoundTf32(-1.0f - MathF.Pow(2, -11)));
        Assert.Equal(2.0f, Tf32Fragment.RoundTf32(BitConverter.Int32BitsToSingle(0x3FFFFFFF)));  // carry into the exponent
        Assert.Equal(float.PositiveInfinity, Tf32Fragment.RoundTf32(float.PositiveInfinity));
        Assert.True(float.IsNaN(Tf32Fragment.RoundTf32(float.NaN)));
    }

    [Fact]
    public void DefaultIsOnOnlyForCapableCudaWithoutSparkleTf32Zero()
    {
        Assert.True(Sparkle.Gpu.IlgpuBackend.Tf32Default(cuda: true, capable: true, env: null));
        Assert.True(Sparkle.Gpu.IlgpuBackend.Tf32Default(true, true, "1"));
        Assert.False(Sparkle.Gpu.IlgpuBackend.Tf32Default(true, true, "0"));
        Assert.False(Sparkle.Gpu.IlgpuBackend.Tf32Default(true, false, null));   // sm < 80
        Assert.False(Sparkle.Gpu.IlgpuBackend.Tf32Default(false, true, null));   // the warp-32 simulator
    }
}
