using Sparkle.Nn;
using Sparkle.Nn.Layers;
using Sparkle.Tensors;

namespace Sparkle.Sparse.Layers;

/// <summary>A sparse layer made from a dense module: it shares the module's parameter and buffer tensors under the same
/// names, and <see cref="Dense"/> is the module to put back (<see cref="SparseConversion.ToDense"/>).</summary>
public interface ISparseLayer
{
    Module Dense { get; }
}

/// <summary>Helpers to register the dense module's own tensors (same objects, same names, same order).</summary>
public abstract class SparseLayer(Module dense) : Module, ISparseLayer
{
    public Module Dense { get; } = dense ?? throw new ArgumentNullException(nameof(dense));

    protected Tensor? Share(string name, Tensor? parameter)
    {
        if (parameter is null) return null;
        bool requires = parameter.RequiresGrad;
        var p = RegisterParameter(name, parameter);
        p.RequiresGrad = requires; // frozen parameters stay frozen
        return p;
    }

    protected Tensor? ShareBuffer(string name, Tensor? buffer) => buffer is null ? null : RegisterBuffer(name, buffer);
}

/// <summary>Submanifold Conv2d (any kernel, stride, padding, dilation, groups) over the dense Conv2d's weight and bias.</summary>
public sealed class SparseConv2d : SparseLayer
{
    public SparseConv2d(Conv2d dense) : base(dense)
    {
        Conv = dense;
        Weight = Share("weight", dense.Weight)!;
        Bias = Share("bias", dense.Bias);
    }

    public Conv2d Conv { get; }
    public Tensor Weight { get; }
    public Tensor? Bias { get; }
    /// <summary>The kernel choice (default: the backend's best for each geometry and layout).</summary>
    public Sparkle.Tensors.Backend.SparseConvOptions Options { get; set; } = Sparkle.Tensors.Backend.SparseConvOptions.Default;

    public override Tensor Forward(Tensor input) => SparseMode.UseOracle
        ? MaskedDense.Conv2d(input, Weight, Bias, Conv.Stride, Conv.Padding, Conv.Dilation, Conv.Groups)
        : SparseOps.Conv2d(input, Weight, Bias, Conv.Stride, Conv.Padding, Conv.Dilation, Conv.Groups, options: Options);

    public override string ToString() => "Sparse" + Conv;
}

/// <summary>SparK's SparseBatchNorm2d: statistics over active sites only (the dense BN's weight, bias, running_mean,
/// running_var and num_batches_tracked, updated in place).</summary>
public sealed class SparseBatchNorm2d : SparseLayer
{
    public SparseBatchNorm2d(BatchNorm2d dense) : base(dense)
    {
        Bn = dense;
        Weight = Share("weight", dense.Weight);
        Bias = Share("bias", dense.Bias);
        RunningMean = ShareBuffer("running_mean", dense.RunningMean);
        RunningVar = ShareBuffer("running_var", dense.RunningVar);
        NumBatchesTracked = ShareBuffer("num_batches_tracked", dense.NumBatchesTracked);
    }

    public BatchNorm2d Bn { get; }
    public Tensor? Weight { get; }
    public Tensor? Bias { get; }
    public Tensor? RunningMean { get; }
    public Tensor? RunningVar { get; }
    public Tensor? NumBatchesTracked { get; }

    public override Tensor Forward(Tensor input)
    {
        if (input.Rank != 4 || input.Size(1) != Bn.NumFeatures)
            throw new ArgumentException($"{this}: expected (N, {Bn.NumFeatures}, H, W) input, got {ShapeUtil.Format(input.Shape)}.");
        var y = SparseMode.UseOracle
            ? MaskedDense.BatchNorm2d(input, RunningMean, RunningVar, Weight, Bias, Training, Bn.Momentum, Bn.Eps)
            : SparseOps.BatchNorm2d(input, RunningMean, RunningVar, Weight, Bias, Training, Bn.Momentum, Bn.Eps);
        if (Training && NumBatchesTracked is not null)   // after the forward, which refuses a batch before writing anything
            using (Autograd.GradMode.NoGrad()) NumBatchesTracked.Add_(1);
        return y;
    }

    public override string ToString() => $"SparseBatchNorm2d({Bn.NumFeatures}, eps={Bn.Eps}, momentum={Bn.Momentum})";
}

/// <summary>Sparse LayerNorm: channels-last (N, H, W, C) from <see cref="LayerNorm"/>, channels-first (N, C, H, W) from
/// <see cref="LayerNorm2d"/> (ConvNeXt); zeros at masked sites.</summary>
public sealed class SparseLayerNorm : SparseLayer
{
    public SparseLayerNorm(LayerNorm dense) : base(dense)
    {
        ChannelsLast = true;
        Eps = dense.Eps;
        Weight = Share("weight", dense.Weight);
        Bias = Share("bias", dense.Bias);
    }

    public SparseLayerNorm(LayerNorm2d dense) : base(dense)
    {
        ChannelsLast = false;
        Eps = dense.Eps;
        Weight = Share("weight", dense.Weight);
        Bias = Share("bias", dense.Bias);
    }

    public bool ChannelsLast { get; }
    public double Eps { get; }
    public Tensor? Weight { get; }
    public Tensor? Bias { get; }

    public override Tensor Forward(Tensor input) => SparseOps.LayerNorm(input, Weight, Bias, Eps, ChannelsLast);
}

/// <summary>Official SparseMaxPooling: the dense pool, then × the output mask.</summary>
public sealed class SparseMaxPool2d(MaxPool2d dense) : SparseLayer(dense)
{
    public override Tensor Forward(Tensor input) => SparseOps.ApplyMask(Dense.Forward(input));
}

/// <summary>Official SparseAvgPooling: the dense pool (masked zeros count), then × the output mask.</summary>
public sealed class SparseAvgPool2d(AvgPool2d dense) : SparseLayer(dense)
{
    public override Tensor Forward(Tensor input) => SparseOps.ApplyMask(Dense.Forward(input));
}

/// <summary>Masked global average pooling (B, C, H, W) -> (B, C): the mean over active sites of each image.</summary>
public sealed class SparseGlobalAvgPool : Module
{
    public override Tensor Forward(Tensor input) => SparseOps.GlobalAvgPool(input);
}
