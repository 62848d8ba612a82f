using System.Diagnostics;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using Sparkle.Gpu.Kernels;
using Xunit;
using Xunit.Abstractions;

namespace Sparkle.Tests.Gpu;

/// <summary>Every kernel compiles to PTX for Ampere (sm_80) and Hopper (sm_90) with no GPU present (GPU.md), so
/// constructs the CUDA backend rejects fail here, in CI, rather than on the GPU machine.</summary>
public class PtxCompileTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(80)]
    [InlineData(90)]
    public void EveryKernelCompilesToPtx(int sm)
    {
        var arch = sm == 80 ? CudaArchitecture.SM_80 : CudaArchitecture.SM_90;
        using var context = Context.Create(b => b.EnableAlgorithms());
        using var backend = new PTXBackend(context, new CudaCapabilityContext(arch), arch, CudaInstructionSet.ISA_80, null!);
        var sw = Stopwatch.StartNew();
        int n = 0;
        foreach (var kernel in KernelCatalog.All())
        {
            var entry = EntryPointDescription.FromImplicitlyGroupedKernel(kernel);
            var compiled = (PTXCompiledKernel)backend.Compile(entry, KernelSpecialization.Empty);
            Assert.Contains(".entry", compiled.PTXAssembly);
            AssertNoDenormalConstants(kernel, compiled.PTXAssembly);
            // docs/random.md forbids fused multiply-add in the samplers; ILGPU must not emit one itself.
            if (kernel.Name == nameof(RandomKernel.Sample)) Assert.DoesNotContain("fma.", compiled.PTXAssembly);
            if (Environment.GetEnvironmentVariable("SPARKLE_PTX_DUMP") is string dir)
                File.WriteAllText(Path.Combine(dir, $"sm{sm}_{n}_{kernel.Name}.ptx"), compiled.PTXAssembly);
            n++;
        }
        foreach (var kernel in KernelCatalog.Grouped())
        {
            var entry = EntryPointDescription.FromExplicitlyGroupedKernel(kernel);
            var compiled = (PTXCompiledKernel)backend.Compile(entry, KernelSpecialization.Empty);
            Assert.Contains(".entry", compiled.PTXAssembly);
            AssertNoDenormalConstants(kernel, compiled.PTXAssembly);
            Assert.Contains("bar.sync", compiled.PTXAssembly);             // Group.Barrier
            Assert.Contains(".shared", compiled.PTXAssembly);              // the A and B tiles
            if (Environment.GetEnvironmentVariable("SPARKLE_PTX_DUMP") is string dir)
                File.WriteAllText(Path.Combine(dir, $"sm{sm}_{n}_{kernel.Name}_grouped.ptx"), compiled.PTXAssembly);
            n++;
        }
        output.WriteLine($"sm_{sm}: {n} kernels compiled to PTX in {sw.ElapsedMilliseconds} ms");
        Assert.True(n >= 50, $"only {n} kernels in the catalog");
    }

    /// <summary>ILGPU 1.5.3 can emit an int constant that C# converted to double as its raw bits: `x != 0 ? 1 : 0`
    /// returned as double became `selp.b64 %fd, 0d0000000000000001, ...` (a denormal, 0 once cast to float), which made
    /// bool -> float casts 0 on CUDA and the SparK loss 0. The only denormal literal a kernel means is -epsilon
    /// (RandomKernel's BitDecrement(0)); any other `0d`/`0f` constant with a zero exponent and a non-zero mantissa is
    /// that bug.</summary>
    private static void AssertNoDenormalConstants(System.Reflection.MethodInfo kernel, string ptx)
    {
        foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(ptx, @"\b0([df])([0-9A-Fa-f]{8,16})\b"))
        {
            ulong bits = Convert.ToUInt64(m.Groups[2].Value, 16);
            if (bits is 0x8000000000000001ul or 0x80000001ul) continue;   // -double.Epsilon / -float.Epsilon
            bool isDouble = m.Groups[1].Value == "d";
            ulong exponent = isDouble ? (bits >> 52) & 0x7FF : (bits >> 23) & 0xFF;
            ulong mantissa = isDouble ? bits & ((1UL << 52) - 1) : bits & ((1UL << 23) - 1);
            Assert.False(exponent == 0 && mantissa != 0,
                $"{kernel.DeclaringType?.Name}.{kernel.Name}<{string.Join(",", kernel.GetGenericArguments().Select(t => t.Name))}>: denormal literal {m.Value} in PTX (an int constant emitted as raw float bits)");
        }
    }
}
