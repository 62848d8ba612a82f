using System.Text;
using Sparkle.Tensors;

namespace Sparkle.Autograd;

/// <summary>Thrown by <see cref="GradCheck.Check"/> with a report naming the input, the element and both values.</summary>
public sealed class GradCheckException(string message) : Exception(message);

/// <summary>
/// torch.autograd.gradcheck for Sparkle: compares the gradients Backward() computes with float64 central
/// differences. The function's output y is projected on a fixed random cotangent v, so one backward gives
/// vᵀJ for every input element, and each element is checked against (f(x+eps)-f(x-eps))·v / 2eps — a
/// wrong entry anywhere in the Jacobian shows up except by measure-zero cancellation. Inputs that require
/// grad must be float64 CPU tensors without repeated elements (no stride-0 dims); they may be any other view.
/// </summary>
public static class GradCheck
{
    /// <summary>Throws <see cref="GradCheckException"/> when any element of any input's gradient disagrees:
    /// |analytic - numeric| &gt; atol + rtol·|numeric| (torch's defaults).</summary>
    public static void Check(Func<Tensor[], Tensor> function, Tensor[] inputs, double eps = 1e-6, double atol = 1e-5, double rtol = 1e-3, ulong seed = 0)
    {
        var report = Run(function, inputs, eps, atol, rtol, seed);
        if (report is not null) throw new GradCheckException(report);
    }

    /// <summary>Like <see cref="Check"/> but returns the failure report (null when every gradient agrees).</summary>
    public static string? Run(Func<Tensor[], Tensor> function, Tensor[] inputs, double eps = 1e-6, double atol = 1e-5, double rtol = 1e-3, ulong seed = 0)
    {
        ArgumentNullException.ThrowIfNull(function);
        ArgumentNullException.ThrowIfNull(inputs);
        var checkedInputs = Enumerable.Range(0, inputs.Length).Where(i => inputs[i].RequiresGrad).ToArray();
        if (checkedInputs.Length == 0)
            throw new ArgumentException("GradCheck: no input requires grad, so there is nothing to check.");
        foreach (int i in checkedInputs) Validate(i, inputs[i]);

        var saved = inputs.Select(t => t.Grad).ToArray();
        try
        {
            foreach (var t in inputs) t.Grad = null;
            var y = function(inputs);
            if (!y.DType.IsFloating())
                throw new ArgumentException($"GradCheck: the function returned a {y.DType.Name()} tensor; it must be floating.");
            var v = Tensor.Randn(y.ShapeArray(), new Generator(seed), DType.Float64).To(y.DType);
            if (y.RequiresGrad) y.Backward(v);

            var report = new StringBuilder();
            int failures = 0;
            foreach (int i in checkedInputs)
            {
                var x = inputs[i];
                var analytic = x.Grad?.ToDoubleArray() ?? new double[x.NumElements];
                var numeric = Numeric(function, inputs, x, v, eps);
                int shown = 0;
                for (int j = 0; j < numeric.Length; j++)
                {
                    double a = analytic[j], n = numeric[j], tol = atol + rtol * Math.Abs(n);
                    if (Math.Abs(a - n) <= tol || (double.IsNaN(a) && double.IsNaN(n))) continue;
                    failures++;
                    if (shown++ < 5)
                        report.AppendLine($"  input {i} {ShapeUtil.Format(x.Shape)}, element {ShapeUtil.Format(ShapeUtil.Unravel(j, x.Shape))}: analytic {a:R}, numeric {n:R} (difference {Math.Abs(a - n):G3}, tolerance {tol:G3})");
                }
            }
            return failures == 0 ? null
                : $"GradCheck failed: {failures} gradient element(s) disagree with central differences (eps {eps}, atol {atol}, rtol {rtol}):{Environment.NewLine}{report}";
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

    /// <summary>d(v·f)/dx for every element of x, in row-major order, by central differences.</summary>
    private static double[] Numeric(Func<Tensor[], Tensor> function, Tensor[] inputs, Tensor x, Tensor v, double eps)
    {
        var result = new double[x.NumElements];
        using var _ = GradMode.NoGrad();
        for (int j = 0; j < result.Length; j++)
        {
            var index = ShapeUtil.Unravel(j, x.Shape);
            double original = x.Get<double>(index);
            x.Set(original + eps, index);
            double plus = Project(function(inputs), v);
            x.Set(original - eps, index);
            double minus = Project(function(inputs), v);
            x.Set(original, index);
            result[j] = (plus - minus) / (2 * eps);
        }
        return result;
    }

    private static double Project(Tensor y, Tensor v) => (y.To(DType.Float64) * v.To(DType.Float64)).Sum().Item();
}
