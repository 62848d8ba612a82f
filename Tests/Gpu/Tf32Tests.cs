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
        foreach (var kernel in Tf32Kernels.Catalog())
        {
            var compiled = (PTXCompiledKernel)backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(kernel), KernelSpecialization.Empty);
            string ptx = compiled.PTXAssembly;
            if (Environment.GetEnvironmentVariable("SPARKLE_PTX_DUMP") is string dir)
                File.WriteAllText(Path.Combine(dir, $"sm{sm}_tf32_{kernel.GetGenericArguments()[0].Name.Split('`')[0]}.ptx"), ptx);
            // Two k8 steps per K tile, each one asm block of 16 mma.
            Assert.Equal(32, Regex.Matches(ptx, @"mma\.sync\.aligned\.m16n8k8\.row\.col\.f32\.tf32\.tf32\.f32").Count);
            Assert.Equal(48, Regex.Matches(ptx, @"cvt\.rna\.tf32\.f32").Count);
            output.WriteLine($"sm_{sm} {kernel.GetGenericArguments()[0].Name}: {ptx.Length} chars, ld.local {Regex.Matches(ptx, @"ld\.local").Count}, st.local {Regex.Matches(ptx, @"st\.local").Count}");
        }
    }
}
