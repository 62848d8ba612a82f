using Sparkle.Cli;
using Xunit;

namespace Sparkle.Tests.Cli;

/// <summary>A fact about what happens when no CUDA device is present: on a machine with one it is reported as skipped,
/// with the reason, instead of passing without an assertion.</summary>
public sealed class FactWithoutCudaAttribute : FactAttribute
{
    private static readonly Lazy<bool> CudaPresent = new(() =>
    {
        try { using var probe = DeviceSession.Open("cuda", "test"); return true; }
        catch (DeviceUnavailableException) { return false; }
    });

    public FactWithoutCudaAttribute()
    {
        if (CudaPresent.Value) Skip = "a CUDA device is present here: the missing-device error cannot be produced";
    }
}

/// <summary>A fact about the message when Debian's dataset-fashion-mnist is not installed; skipped, with the reason,
/// where it is.</summary>
public sealed class FactWithoutFashionMnistAttribute : FactAttribute
{
    public const string Root = "/usr/share/datasets/fashion-mnist";

    public FactWithoutFashionMnistAttribute()
    {
        if (Directory.Exists(Root)) Skip = $"{Root} is installed here: the missing-data message cannot be produced";
    }
}
