using Sparkle.Tensors;
using Sparkle.Tensors.Cpu;
using Sparkle.Tests.Support;

namespace Sparkle.Tests;

/// <summary>Independent scalar references for the elementwise and reduction tests (plain loops over
/// element indices and System.Math; erf by a series the kernels do not use).</summary>
public static class ElementwiseReference
{
    public static readonly DType[] Floats = [DType.Float32, DType.Float64];
    public static readonly DType[] Ints = [DType.Int32, DType.Int64];

    /// <summary>The values of t read at every index of outShape under NumPy broadcasting, row-major.</summary>
    public static double[] BroadcastValues(Tensor t, int[] outShape)
    {
        int lead = outShape.Length - t.Rank;
        return TensorGen.Indices(outShape).Select(idx =>
        {
            var src = new int[t.Rank];
            for (int i = 0; i < t.Rank; i++) src[i] = t.Shape[i] == 1 ? 0 : idx[i + lead];
            return t.GetDouble(src);
        }).ToArray();
    }

    /// <summary>erf: the everywhere-positive series 2/sqrt(pi) e^{-x^2} sum_n 2^n x^{2n+1} / (2n+1)!! for |x| &lt; 0.5,
    /// 1 - erfc beyond (no cancellation there, erfc &lt; 0.16).</summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return x;
        if (Math.Abs(x) >= 1) return Math.Sign(x) * (1 - Erfc(Math.Abs(x)));
        double x2 = x * x, term = x;
        var sum = new CompensatedSum();
        sum.Add(x);
        for (int n = 0; n < 100 && Math.Abs(term) > 1e-18 * Math.Abs(sum.Value); n++)
        {
            term *= 2 * x2 / (2 * n + 3);
            sum.Add(term);
        }
        return 2 / Math.Sqrt(Math.PI) * Math.Exp(-x2) * sum.Value;
    }

    /// <summary>erfc(x) for x &gt;= 0 as 2/sqrt(pi) times the integral of exp(-t^2) from x on.</summary>
    public static double Erfc(double x) => 2 / Math.Sqrt(Math.PI) * Tail(x, 1);

    /// <summary>The integral of exp(-c s^2) over s &gt;= a, written exp(-c a^2) * integral of exp(-c (2 a u + u^2)) over
    /// u in [0, L] (so the nodes carry no rounding of a + u into the exponent), by 16-point Gauss-Legendre on 48
    /// panels; a^2 is split exactly (FMA). A sum of positive terms, accurate to a few 1e-16 relative.</summary>
    private static double Tail(double a, double c)
    {
        // cover the tail to a relative 1e-17 while keeping the decay per panel small enough for Gauss-Legendre
        double length = Math.Min(12 / Math.Sqrt(c), 40 / (c * Math.Max(a, 1e-300)));
        double h = length / 48;
        var sum = new CompensatedSum();
        for (int p = 0; p < 48; p++)
        {
            double mid = (p + 0.5) * h, panel = 0;
            for (int i = 0; i < GaussNodes.Length; i++)
            {
                double u = mid + h / 2 * GaussNodes[i];
                panel += GaussWeights[i] * Math.Exp(-c * (2 * a * u + u * u));
            }
            sum.Add(panel * h / 2);
        }
        double hi = a * a, lo = Math.FusedMultiplyAdd(a, a, -hi);
        double e = Math.Exp(-c * hi);
        return (e - c * lo * e) * sum.Value;
    }

    /// <summary>Neumaier summation: the reference sums carry no accumulated rounding.</summary>
    private struct CompensatedSum
    {
        private double _sum, _c;
        public readonly double Value => _sum + _c;
        public void Add(double v)
        {
            double t = _sum + v;
            _c += Math.Abs(_sum) >= Math.Abs(v) ? (_sum - t) + v : (v - t) + _sum;
            _sum = t;
        }
    }

    private static readonly (double[] Nodes, double[] Weights) Gauss = GaussLegendre(16);
    private static double[] GaussNodes => Gauss.Nodes;
    private static double[] GaussWeights => Gauss.Weights;

    /// <summary>Nodes and weights on [-1, 1] by Newton's method on the Legendre recurrence.</summary>
    private static (double[], double[]) GaussLegendre(int n)
    {
        var x = new double[n];
        var w = new double[n];
        for (int i = 1; i <= (n + 1) / 2; i++)
        {
            double z = Math.Cos(Math.PI * (i - 0.25) / (n + 0.5));
            // Newton steps, then two more so that z and the derivative used by the weight are both converged
            for (int it = 0, extra = 0; it < 100 && extra < 2; it++)
            {
                var (p, dp) = Legendre(n, z);
                double z1 = z;
                z -= p / dp;
                if (Math.Abs(z - z1) <= 1e-15) extra++;
            }
            double pp = Legendre(n, z).Derivative;
            x[i - 1] = -z; x[n - i] = z;
            w[i - 1] = w[n - i] = 2 / ((1 - z * z) * pp * pp);
        }
        return (x, w);
    }

    private static (double Value, double Derivative) Legendre(int n, double z)
    {
        double p1 = 1, p2 = 0;
        for (int j = 1; j <= n; j++)
        {
            double p3 = p2;
            p2 = p1;
            p1 = ((2 * j - 1) * z * p2 - (j - 1) * p3) / j;
        }
        return (p1, n * (z * p1 - p2) / (z * z - 1));
    }

    public static double Gelu(double x)
    {
        // 1 + erf(x / sqrt 2) = erfc(|x| / sqrt 2) = sqrt(2/pi) * integral of exp(-s^2/2) from |x| on, for x < 0
        double onePlusErf = x < -0.7 ? Math.Sqrt(2 / Math.PI) * Tail(-x, 0.5) : 1 + Erf(x / Math.Sqrt(2));
        return x * 0.5 * onePlusErf;
    }

    public static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    /// <summary>Rounds a reference value to the dtype the op produced (integers exact, bool 0/1).</summary>
    public static double ToDType(double v, DType d) => d switch
    {
        DType.Float32 => (float)v,
        DType.Int32 => (int)v,
        DType.Int64 => (long)v,
        DType.Bool => v != 0 ? 1 : 0,
        _ => v,
    };

    /// <summary>Rounds every storage element of t's base to a multiple of 0.5 in [-2, 2] (float) so that
    /// comparisons and arg-reductions meet ties; all views of that storage see it.</summary>
    public static Tensor Quantize(Tensor t)
    {
        switch (t.Storage)
        {
            case CpuStorage<float> s: for (int i = 0; i < s.Data.Length; i++) s.Data[i] = MathF.Round(s.Data[i] * 2) / 2; break;
            case CpuStorage<double> s: for (int i = 0; i < s.Data.Length; i++) s.Data[i] = Math.Round(s.Data[i] * 2) / 2; break;
        }
        return t;
    }

    /// <summary>Exact bits of every element (floats by their IEEE pattern), for bit-identity checks.</summary>
    public static long[] Bits(Tensor t)
    {
        var c = t.Contiguous();
        return t.DType switch
        {
            DType.Float32 => c.ToArray<float>().Select(v => (long)BitConverter.SingleToInt32Bits(v)).ToArray(),
            DType.Float64 => c.ToArray<double>().Select(BitConverter.DoubleToInt64Bits).ToArray(),
            _ => TensorGen.Values(t).Select(v => (long)v).ToArray(),
        };
    }
}
