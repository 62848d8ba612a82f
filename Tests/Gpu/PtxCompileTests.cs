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
            Assert.Contains("bar.sync", compiled.PTXAssembly);             // Group.Barrier
            Assert.Contains(".shared", compiled.PTXAssembly);              // the A and B tiles
            if (Environment.GetEnvironmentVariable("SPARKLE_PTX_DUMP") is string dir)
                File.WriteAllText(Path.Combine(dir, $"sm{sm}_{n}_{kernel.Name}_grouped.ptx"), compiled.PTXAssembly);
            n++;
        }
        output.WriteLine($"sm_{sm}: {n} kernels compiled to PTX in {sw.ElapsedMilliseconds} ms");
        Assert.True(n >= 50, $"only {n} kernels in the catalog");
    }
}
