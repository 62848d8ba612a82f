namespace Sparkle.Tensors;

/// <summary>Element type of a tensor. Float64 exists for gradient checks; training runs in Float32.</summary>
public enum DType { Bool, Int32, Int64, Float32, Float64 }

public static class DTypes
{
    public static int SizeOf(this DType d) => d switch
    {
        DType.Bool => 1,
        DType.Int32 or DType.Float32 => 4,
        DType.Int64 or DType.Float64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(d)),
    };

    public static bool IsFloating(this DType d) => d is DType.Float32 or DType.Float64;

    public static Type ClrType(this DType d) => d switch
    {
        DType.Bool => typeof(bool),
        DType.Int32 => typeof(int),
        DType.Int64 => typeof(long),
        DType.Float32 => typeof(float),
        DType.Float64 => typeof(double),
        _ => throw new ArgumentOutOfRangeException(nameof(d)),
    };

    public static DType Of<T>() where T : unmanaged =>
        typeof(T) == typeof(float) ? DType.Float32 :
        typeof(T) == typeof(double) ? DType.Float64 :
        typeof(T) == typeof(int) ? DType.Int32 :
        typeof(T) == typeof(long) ? DType.Int64 :
        typeof(T) == typeof(bool) ? DType.Bool :
        throw new NotSupportedException($"{typeof(T).Name} is not a Sparkle dtype (bool, int, long, float, double).");

    /// <summary>Type promotion for binary ops: bool &lt; int32 &lt; int64 &lt; float32 &lt; float64 (the enum order).</summary>
    public static DType Promote(DType a, DType b) => (DType)Math.Max((int)a, (int)b);

    public static string Name(this DType d) => d switch
    {
        DType.Bool => "bool", DType.Int32 => "int32", DType.Int64 => "int64",
        DType.Float32 => "float32", DType.Float64 => "float64", _ => d.ToString(),
    };
}
