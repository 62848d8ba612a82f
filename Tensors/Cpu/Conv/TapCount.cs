namespace Sparkle.Tensors.Cpu.Conv;

/// <summary>A count known to the JIT (taps, or vectors per block): kernels generic over it keep one accumulator each in registers and
/// the unused ones fold away (the weight-gradient kernels keep up to 8 column taps of a kernel row).</summary>
internal interface ITapCount
{
    static abstract int Count { get; }
}

internal static class TapCounts
{
    public readonly struct C1 : ITapCount { public static int Count => 1; }
    public readonly struct C2 : ITapCount { public static int Count => 2; }
    public readonly struct C3 : ITapCount { public static int Count => 3; }
    public readonly struct C4 : ITapCount { public static int Count => 4; }
    public readonly struct C5 : ITapCount { public static int Count => 5; }
    public readonly struct C6 : ITapCount { public static int Count => 6; }
    public readonly struct C7 : ITapCount { public static int Count => 7; }
    public readonly struct C8 : ITapCount { public static int Count => 8; }
}
