using Sparkle.Autograd;
using Sparkle.Tensors;

namespace Sparkle.Nn;

/// <summary>
/// Pooling over NCHW tensors, written in tensor ops so it runs on any backend. A k x k window with stride s
/// is k*k strided views of the padded input (view (i, j) holds element (i, j) of every window), so pooling is
/// k*k elementwise passes over output-sized data.
/// </summary>
public static partial class Functional
{
    /// <summary>torch.nn.functional.max_pool2d (dilation 1, floor mode). Padding counts as -infinity. The
    /// gradient goes to the first maximum of each window in row-major window order, as in PyTorch. Float tensors run the
    /// backend's kernel (IBackend.MaxPool2dForward/Backward: one pass writes the maxima and the int32 winners the backward
    /// reads); other dtypes the composition below.</summary>
    public static Tensor MaxPool2d(Tensor input, int kernelSize, int stride = -1, int padding = 0)
    {
        if (stride < 0) stride = kernelSize;
        var geo = PoolGeometry.Of("MaxPool2d", input, kernelSize, stride, padding);
        if (input.DType is not (DType.Float32 or DType.Float64)) return MaxPool2dComposed(input, kernelSize, stride, padding);
        var x = input.Detach().Contiguous();
        var y = Tensor.Empty([x.Size(0), x.Size(1), geo.OutHeight, geo.OutWidth], x.DType, x.Device);
        bool grad = Differentiable.NeedsGrad(input);
        var winners = grad ? Tensor.Empty(y.ShapeArray(), DType.Int32, x.Device) : null;
        x.Backend.MaxPool2dForward(x, kernelSize, stride, padding, y, winners);
        if (winners is null) return y;
        return Differentiable.Record("MaxPool2d", y, [input], MaxPool2dBackward(winners, x.ShapeArray(), x.DType, kernelSize, stride, padding), winners);
    }

    /// <summary>Built apart from the forward so the closure holds the winners only.</summary>
    private static BackwardFunction MaxPool2dBackward(Tensor winners, int[] inputShape, DType dtype, int kernel, int stride, int padding) => g =>
    {
        var gx = Tensor.Empty(inputShape, dtype, g.Device);
        g.Backend.MaxPool2dBackward(g.Contiguous(), winners, kernel, stride, padding, gx);
        return [gx];
    };

    /// <summary>max_pool2d in tensor ops: k*k strided views, a max and an argmax (integer dtypes; the tests' reference for
    /// the kernel). Unlike the kernel, an all −inf window sends its gradient to the padding.</summary>
    internal static Tensor MaxPool2dComposed(Tensor input, int kernelSize, int stride, int padding)
    {
        var geo = PoolGeometry.Of("MaxPool2d", input, kernelSize, stride, padding);
        Tensor output, argmax;
        using (GradMode.NoGrad())
        {
            var padded = padding > 0 ? input.Pad([padding, padding, padding, padding], double.NegativeInfinity) : input;
            var windows = Tensor.Stack(geo.Views(padded), 0);    // (k*k, N, C, Ho, Wo)
            output = windows.Max([0], keepDim: false);
            argmax = windows.ArgMax(0);                           // first maximum wins, like torch
        }
        if (!Differentiable.NeedsGrad(input)) return output;
        var (shape, dtype, device) = (input.ShapeArray(), input.DType, input.Device);
        return Differentiable.Record("MaxPool2d", output, [input], g =>
        {
            var paddedShape = (int[])shape.Clone();
            paddedShape[2] += 2 * padding;
            paddedShape[3] += 2 * padding;
            var gradPadded = Tensor.Zeros(paddedShape, dtype, device);
            var views = geo.Views(gradPadded);
            for (int k = 0; k < views.Length; k++)
                views[k].Add_(Tensor.Where(argmax.Eq(k), g, 0.0));   // windows overlap when stride < k: accumulate
            return [padding > 0 ? gradPadded.Pad([-padding, -padding, -padding, -padding]) : gradPadded];
        }, argmax);
    }

    /// <summary>torch.nn.functional.avg_pool2d (floor mode). With count_include_pad (torch's default) padded zeros
    /// count in the average; without it each window divides by its number of real elements. Differentiable
    /// through its parts (pad, strided views, sums).</summary>
    public static Tensor AvgPool2d(Tensor input, int kernelSize, int stride = -1, int padding = 0, bool countIncludePad = true)
    {
        if (stride < 0) stride = kernelSize;
        var geo = PoolGeometry.Of("AvgPool2d", input, kernelSize, stride, padding);
        var sum = WindowSum(geo, padding > 0 ? input.Pad([padding, padding, padding, padding]) : input);
        if (countIncludePad || padding == 0) return sum * (1.0 / (kernelSize * kernelSize));
        Tensor counts;
        using (GradMode.NoGrad())
        {
            var ones = Tensor.Ones([1, 1, input.Size(2), input.Size(3)], input.DType, input.Device);
            counts = WindowSum(geo, ones.Pad([padding, padding, padding, padding]));
        }
        return sum / counts;
    }

    private static Tensor WindowSum(PoolGeometry geo, Tensor padded)
    {
        Tensor? sum = null;
        foreach (var v in geo.Views(padded)) sum = sum is null ? v : sum + v;
        return sum!;
    }

    /// <summary>torch.nn.functional.adaptive_avg_pool2d: output cell (i, j) averages rows
    /// [floor(i*H/oh), ceil((i+1)*H/oh)) and the matching columns.</summary>
    public static Tensor AdaptiveAvgPool2d(Tensor input, int outputHeight, int outputWidth)
    {
        if (input.Rank != 4) throw new ArgumentException($"AdaptiveAvgPool2d expects NCHW input, got shape {ShapeUtil.Format(input.Shape)}.");
        if (outputHeight <= 0 || outputWidth <= 0) throw new ArgumentException($"AdaptiveAvgPool2d: output size must be positive, got ({outputHeight}, {outputWidth}).");
        int h = input.Size(2), w = input.Size(3);
        if (outputHeight == 1 && outputWidth == 1) return input.Mean([2, 3], keepDim: true);
        if (h % outputHeight == 0 && w % outputWidth == 0)
        {
            int kh = h / outputHeight, kw = w / outputWidth;
            return input.Reshape(input.Size(0), input.Size(1), outputHeight, kh, outputWidth, kw).Mean([3, 5], keepDim: false);
        }
        var rows = new List<Tensor>();
        for (int i = 0; i < outputHeight; i++)
        {
            int r0 = i * h / outputHeight, r1 = ((i + 1) * h + outputHeight - 1) / outputHeight;
            var cells = new List<Tensor>();
            for (int j = 0; j < outputWidth; j++)
            {
                int c0 = j * w / outputWidth, c1 = ((j + 1) * w + outputWidth - 1) / outputWidth;
                cells.Add(input.Narrow(2, r0, r1 - r0).Narrow(3, c0, c1 - c0).Mean([2, 3], keepDim: true));
            }
            rows.Add(Tensor.Cat(cells, 3));
        }
        return Tensor.Cat(rows, 2);
    }

    /// <summary>The k*k strided views of a padded NCHW tensor that make up the pooling windows.</summary>
    private readonly record struct PoolGeometry(int Kernel, int Stride, int OutHeight, int OutWidth)
    {
        public static PoolGeometry Of(string op, Tensor input, int kernel, int stride, int padding)
        {
            if (input.Rank != 4) throw new ArgumentException($"{op} expects NCHW input, got shape {ShapeUtil.Format(input.Shape)}.");
            if (kernel <= 0 || stride <= 0 || padding < 0)
                throw new ArgumentException($"{op}: kernel {kernel} and stride {stride} must be positive and padding {padding} non-negative.");
            if (2 * padding > kernel)
                throw new ArgumentException($"{op}: padding {padding} must be at most half the kernel size {kernel} (as in PyTorch).");
            int oh = (input.Size(2) + 2 * padding - kernel) / stride + 1, ow = (input.Size(3) + 2 * padding - kernel) / stride + 1;
            if (oh <= 0 || ow <= 0)
                throw new ArgumentException($"{op}: input {ShapeUtil.Format(input.Shape)} is smaller than the {kernel}x{kernel} window (padding {padding}).");
            return new PoolGeometry(kernel, stride, oh, ow);
        }

        public Tensor[] Views(Tensor padded)
        {
            var views = new Tensor[Kernel * Kernel];
            for (int i = 0; i < Kernel; i++)
                for (int j = 0; j < Kernel; j++)
                    views[i * Kernel + j] = padded
                        .Slice(2, i, i + (OutHeight - 1) * Stride + 1, Stride)
                        .Slice(3, j, j + (OutWidth - 1) * Stride + 1, Stride);
            return views;
        }
    }
}
