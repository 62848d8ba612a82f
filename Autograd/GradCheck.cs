using System.Text;
using Sparkle.Tensors;

namespace Sparkle.Autograd;

/// <summary>Thrown by <see cref="GradCheck.Check"/> with a report naming the input, the element and both values.</summary>
public sealed class GradCheckException(string message) : Exception(message);

/// <summary>
/// torch.autograd.gradcheck for Sparkle, at float64 precision. The output y is projected on a random cotangent v
/// (drawn per case: from the inputs' values unless a seed is given), so one backward gives vᵀJ for every input
/// element; each element is compared with the derivative of v·f by central differences, and the whole gradient is
/// compared once more along a random direction d of all inputs together (v·J·d, every input perturbed at once).
/// The differences are Richardson-extrapolated (steps eps and eps/2: error O(eps⁴)) and taken output element by
/// output element before the projection, so outputs a perturbation does not reach contribute exact zeros instead of
/// rounding noise; that is what lets float64 meet a relative tolerance of 1e-9. Inputs that require grad must be
/// float64 CPU tensors without repeated elements (no stride-0 dims); they may be any other view. The function must
/// compute in float64 and be smooth within 1.5·eps of the inputs (keep kinks, ties and clamp bounds farther away).
/// </summary>
public static class GradCheck
{
    /// <summary>Default step: small enough to keep off kinks a test stays 1e-3 away from, large enough that the
    /// rounding of f (about 1e-16·|y|/eps) stays near 1e-12.</summary>
    public const double DefaultEps = 1e-4;

    /// <summary>Default relative tolerance, on the scale of the input's largest gradient element (see <see cref="Run"/>).</summary>
    public const double DefaultRtol = 1e-9;

    private const double Ulp = 1.0 / (1L << 52);

    /// <summary>How many times its estimated rounding noise a numeric derivative may be off (see <see cref="Run"/>).</summary>
    private const double NoiseFactor = 16;

    /// <summary>A difference this small passes whatever the scale: the rounding of a gradient that is exactly zero.</summary>
    private const double AbsoluteFloor = 1e-14;

    /// <summary>Throws <see cref="GradCheckException"/> when any element of any input's gradient, or the directional
    /// derivative, disagrees (see <see cref="Run"/>).</summary>
    public static void Check(Func<Tensor[], Tensor> function, Tensor[] inputs, double eps = DefaultEps, double rtol = DefaultRtol, ulong? seed = null)
    {
        var report = Run(function, inputs, eps, rtol, seed);
        if (report is not null) throw new GradCheckException(report);
    }

    /// <summary>Like <see cref="Check"/> but returns the failure report (null when every gradient agrees). Element j of
    /// input i passes when |analytic − numeric| ≤ rtol·(|numeric| + max_k |numeric_ik|) + 16·noise + 1e-14: relative, with a
    /// floor at rtol times the input's largest gradient element, plus 16 times the rounding noise of the numeric value
    /// (an ulp of each output element the perturbation reaches, times |v|, over the step; it matters only where the
    /// gradient is tiny next to the outputs, such as BN over two values, whose gradient lives in eps alone).
    /// <paramref name="seed"/> fixes v and d; by default they are drawn from a hash of the inputs' values and shapes,
    /// so each case has its own and a case replays exactly.</summary>
    public static string? Run(Func<Tensor[], Tensor> function, Tensor[] inputs, double eps = DefaultEps, double rtol = DefaultRtol, ulong? seed = null)
    {
        ArgumentNullException.ThrowIfNull(function);
        ArgumentNullException.ThrowIfNull(inputs);
        var checkedInputs = Enumerable.Range(0, inputs.Length).Where(i => inputs[i].RequiresGrad).ToArray();
        if (checkedInputs.Length == 0)
            throw new ArgumentException("GradCheck: no input requires grad, so there is nothing to check.");
        foreach (int i in checkedInputs) Validate(i, inputs[i]);
        ulong s = seed ?? Hash(inputs);

        var saved = inputs.Select(t => t.Grad).ToArray();
        try
        {
            foreach (var t in inputs) t.Grad = null;
            var y = function(inputs);
            if (y.DType != DType.Float64)
                throw new ArgumentException($"GradCheck: the function returned a {y.DType.Name()} tensor; it must compute in float64.");
            var v = Tensor.Randn(y.ShapeArray(), new Generator(s), DType.Float64).ToDoubleArray();
            if (y.RequiresGrad) y.Backward(Tensor.FromArray(v, y.ShapeArray()));

            var report = new StringBuilder();
            int failures = 0;
            var analytic = new double[inputs.Length][];
            var numerics = new double[inputs.Length][];
            foreach (int i in checkedInputs)
            {
                var x = inputs[i];
                analytic[i] = x.Grad?.ToDoubleArray() ?? new double[x.NumElements];
                var numeric = numerics[i] = new double[x.NumElements];
                var noise = new double[x.NumElements];
                var indices = new int[x.NumElements][];
                for (int j = 0; j < numeric.Length; j++)
                {
                    indices[j] = ShapeUtil.Unravel(j, x.Shape);
                    var index = indices[j];
                    (numeric[j], noise[j]) = Derivative(function, inputs, v, eps, h => [(x, index, h)]);
                }
                double scale = numeric.Select(Math.Abs).DefaultIfEmpty(0).Max();
                int shown = 0;
                for (int j = 0; j < numeric.Length; j++)
                {
                    double a = analytic[i][j], n = numeric[j], tol = rtol * (Math.Abs(n) + scale) + NoiseFactor * noise[j] + AbsoluteFloor;
                    if (Math.Abs(a - n) <= tol || (double.IsNaN(a) && double.IsNaN(n))) continue;
                    failures++;
                    if (shown++ < 5)
                        report.AppendLine($"  input {i} {ShapeUtil.Format(x.Shape)}, element {ShapeUtil.Format(indices[j])}: analytic {a:R}, numeric {n:R} (difference {Math.Abs(a - n):G3}, tolerance {tol:G3})");
                }
            }

            // The directional derivative along a random d over all checked inputs at once.
            var directions = checkedInputs.ToDictionary(i => i, i => Tensor.Randn(inputs[i].ShapeArray(), new Generator(s + 1 + (ulong)i), DType.Float64).ToDoubleArray());
            double expected = 0, magnitude = 0;
            foreach (int i in checkedInputs)
                for (int j = 0; j < directions[i].Length; j++)
                {
                    expected += analytic[i][j] * directions[i][j];
                    magnitude += Math.Abs(numerics[i][j] * directions[i][j]);
                }
            var all = checkedInputs.SelectMany(i => Enumerable.Range(0, inputs[i].NumElements)
                .Select(j => (X: inputs[i], Index: ShapeUtil.Unravel(j, inputs[i].Shape), D: directions[i][j]))).ToArray();
            var (directional, dirNoise) = Derivative(function, inputs, v, eps, h => all.Select(e => (e.X, e.Index, h * e.D)));
            double dirTol = rtol * (Math.Abs(directional) + magnitude) + NoiseFactor * dirNoise + AbsoluteFloor;
            if (!(Math.Abs(expected - directional) <= dirTol) && !(double.IsNaN(expected) && double.IsNaN(directional)))
            {
                failures++;
                report.AppendLine($"  along a random direction of all inputs: analytic {expected:R}, numeric {directional:R} (difference {Math.Abs(expected - directional):G3}, tolerance {dirTol:G3})");
            }
            return failures == 0 ? null
                : $"GradCheck failed: {failures} check(s) disagree with central differences (eps {eps}, rtol {rtol}, seed {s}):{Environment.NewLine}{report}";
        }
        finally
        {
            for (int i = 0; i < inputs.Length; i++) inputs[i].Grad = saved[i];
        }
    }

    private static void Validate(int i, Tensor x)
    {
        if (x.DType != DType.Float64)
            throw new ArgumentException($"GradCheck: input {i} is {x.DType.Name()} {ShapeUtil.Format(x.Shape)}; central differences need float64 inputs.");
        if (x.Device != Device.Cpu)
            throw new ArgumentException($"GradCheck: input {i} is on {x.Device}; GradCheck runs on the CPU (compare devices with an agreement test instead).");
        for (int d = 0; d < x.Rank; d++)
            if (x.Stride(d) == 0 && x.Size(d) > 1)
                throw new ArgumentException($"GradCheck: input {i} {ShapeUtil.Format(x.Shape)} is expanded (stride 0 in dim {d}); perturbing one element would move several. Pass Contiguous() of it.");
    }

    /// <summary>d/dt of v·f(x + t·δ) at t = 0, where <paramref name="delta"/>(h) lists the elements moved by a step h
    /// and how far: Richardson's (4·D(eps/2) − D(eps))/3 of central differences D. Also returns the rounding noise of
    /// that estimate: one ulp of every output element the step reached, times |v|, over the step.</summary>
    private static (double Value, double Noise) Derivative(Func<Tensor[], Tensor> function, Tensor[] inputs, double[] v, double eps,
        Func<double, IEnumerable<(Tensor X, int[] Index, double Step)>> delta)
    {
        (double, double) Central(double h)
        {
            var plus = Evaluate(function, inputs, delta(h));
            var minus = Evaluate(function, inputs, delta(-h));
            double sum = 0, reached = 0;
            for (int k = 0; k < v.Length; k++)
            {
                sum += (plus[k] - minus[k]) * v[k];
                if (plus[k] != minus[k]) reached += (Math.Abs(plus[k]) + Math.Abs(minus[k])) * Math.Abs(v[k]);
            }
            return (sum / (2 * h), reached * Ulp / (2 * h));
        }
        var (half, halfNoise) = Central(eps / 2);
        var (full, fullNoise) = Central(eps);
        return ((4 * half - full) / 3, (4 * halfNoise + fullNoise) / 3);
    }

    /// <summary>f at the inputs moved by the given steps, as float64 values; the inputs are restored bit for bit.</summary>
    private static double[] Evaluate(Func<Tensor[], Tensor> function, Tensor[] inputs, IEnumerable<(Tensor X, int[] Index, double Step)> steps)
    {
        using var _ = GradMode.NoGrad();
        var moved = new List<(Tensor X, int[] Index, double Original)>();
        foreach (var (x, index, step) in steps)
        {
            double original = x.Get<double>(index);
            moved.Add((x, index, original));
            x.Set(original + step, index);
        }
        try { return function(inputs).ToDoubleArray(); }
        finally
        {
            foreach (var (x, index, original) in moved) x.Set(original, index);
        }
    }

    /// <summary>FNV-1a over the inputs' shapes and float64 bits: each case gets its own cotangent and direction.</summary>
    private static ulong Hash(Tensor[] inputs)
    {
        ulong h = 14695981039346656037;
        void Mix(ulong word) { for (int b = 0; b < 8; b++) { h ^= (word >> (8 * b)) & 0xff; h *= 1099511628211; } }
        foreach (var t in inputs)
        {
            foreach (int d in t.Shape) Mix((ulong)d);
            if (t.DType.IsFloating()) foreach (double x in t.ToDoubleArray()) Mix((ulong)BitConverter.DoubleToInt64Bits(x));
        }
        return h;
    }
}
