using System.Reflection;
using Sparkle.Tests.Nn;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests;

/// <summary>
/// Every tensor in every golden file is compared by some test. Three static checks, none depending on test order:
/// <list type="number">
/// <item>each case of each file in Tests/Golden has its (file, op) in <see cref="Readers"/>, the declaration of which
/// test reads which ops;</item>
/// <item>each declared test is a [Theory] whose MemberData really yields every case of its ops (so no case is left out
/// of the run);</item>
/// <item>each declared test calls <see cref="Golden.Case.AssertAllRead"/> (directly or in a helper it calls), which
/// fails the test itself when it leaves a tensor of its case unread.</item>
/// </list>
/// A new golden file, case or tensor without a reader therefore fails here or in its reader.
/// </summary>
public class GoldenCoverageTests
{
    private static readonly (string File, string[] Ops, Type Test, string Method)[] Readers =
    [
        ("activations.safetensors", ["gelu", "relu", "relu6", "sigmoid", "tanh"], typeof(ElementwiseGoldenTests), nameof(ElementwiseGoldenTests.ActivationsMatchPyTorch)),
        ("reductions.safetensors", ["add", "mul"], typeof(ElementwiseGoldenTests), nameof(ElementwiseGoldenTests.BroadcastArithmeticMatchesPyTorch)),
        ("reductions.safetensors", ["var"], typeof(ReduceTests), nameof(ReduceTests.VarianceMatchesPyTorch)),
        ("linear.safetensors", ["linear"], typeof(LayerGoldenTests), nameof(LayerGoldenTests.LinearMatchesPyTorch)),
        ("pooling.safetensors", ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"], typeof(LayerGoldenTests), nameof(LayerGoldenTests.PoolingMatchesPyTorch)),
        ("layer_norm.safetensors", ["layer_norm", "layer_norm_channels_first"], typeof(LayerGoldenTests), nameof(LayerGoldenTests.LayerNormMatchesPyTorch)),
        ("batch_norm.safetensors", ["batch_norm2d"], typeof(LayerGoldenTests), nameof(LayerGoldenTests.BatchNorm2dModuleMatchesPyTorch)),
        ("losses.safetensors", ["mse_loss", "cross_entropy", "soft_target_cross_entropy"], typeof(LayerGoldenTests), nameof(LayerGoldenTests.LossesMatchPyTorch)),
        ("conv2d.safetensors", ["conv2d"], typeof(ConvTests), nameof(ConvTests.MatchesPyTorchGolden)),
        ("conv_transpose2d.safetensors", ["conv_transpose2d"], typeof(ConvTests), nameof(ConvTests.MatchesPyTorchGolden)),
        ("optimizers.safetensors", ["sgd", "adamw", "lamb"], typeof(OptimTests), nameof(OptimTests.OptimizerMatchesGolden)),
    ];

    [Fact]
    public void EveryGoldenCaseHasADeclaredReader()
    {
        var files = Directory.GetFiles(Golden.Dir, "*.safetensors").Select(Path.GetFileName).ToArray();
        Assert.NotEmpty(files);
        var missing = new List<string>();
        foreach (var file in files)
        {
            var meta = Golden.Metadata(file!);
            var cases = meta.Keys.Where(k => !k.StartsWith('_')).ToArray();
            Assert.NotEmpty(cases);
            foreach (var c in cases)
                if (!Readers.Any(r => r.File == file && Golden.CaseNames(file!, r.Ops).Contains(c)))
                    missing.Add($"{file} {c}");
            // Every key of the file belongs to a case (no stray tensors outside the case/tensor scheme).
            foreach (var key in Golden.Load(file!).Keys)
                if (!cases.Any(c => key.StartsWith(c + "/", StringComparison.Ordinal))) missing.Add($"{file} {key} (no case)");
        }
        Assert.True(missing.Count == 0, "golden cases no test reads: " + string.Join(", ", missing));
    }

    [Fact]
    public void EachReaderRunsEveryCaseOfItsOpsAndAssertsAllTensorsRead()
    {
        foreach (var (file, ops, test, methodName) in Readers)
        {
            var method = test.GetMethod(methodName)!;
            Assert.NotNull(method.GetCustomAttribute<TheoryAttribute>());
            var rows = method.GetCustomAttributes<MemberDataAttribute>()
                .SelectMany(md => md.GetData(method)).ToArray();
            var args = rows.SelectMany(r => r).OfType<string>().ToHashSet();
            var cases = Golden.CaseNames(file, ops);
            Assert.NotEmpty(cases);
            foreach (var c in cases)
                Assert.True(args.Contains(c), $"{test.Name}.{methodName} does not run {file} {c}");
            Assert.True(CallsAssertAllRead(method, depth: 2), $"{test.Name}.{methodName} never calls Golden.Case.AssertAllRead");
        }
    }

    /// <summary>Whether the method's IL calls AssertAllRead, or calls a method of this assembly that does (up to depth).</summary>
    private static bool CallsAssertAllRead(MethodBase method, int depth)
    {
        var target = typeof(Golden.Case).GetMethod(nameof(Golden.Case.AssertAllRead));
        var il = method.GetMethodBody()?.GetILAsByteArray();
        if (il is null) return false;
        for (int i = 0; i + 4 < il.Length; i++)
        {
            if (il[i] != 0x28 && il[i] != 0x6F) continue;              // call, callvirt
            MethodBase? callee;
            try { callee = method.Module.ResolveMethod(BitConverter.ToInt32(il, i + 1)); }
            catch (ArgumentException) { continue; }
            if (callee is null) continue;
            if (callee == target) return true;
            if (depth > 0 && callee.Module == method.Module && callee != method && CallsAssertAllRead(callee, depth - 1)) return true;
        }
        return false;
    }
}
