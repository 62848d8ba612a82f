using Sparkle.Autograd;
using Sparkle.Models;
using Sparkle.Models.Spark;
using Sparkle.Models.Training;
using Sparkle.Nn.Parallel;
using Sparkle.Nn.Serialization;
using Sparkle.Tensors;

namespace Sparkle.DistributedWorker;

/// <summary>
/// The data-parallel equivalence scenario: a 1/8-width ResNet-18 (small stem, mask patch 8) SparK at 64 px, a global
/// batch of <see cref="GlobalBatch"/> fixed images and masks, 3 LAMB steps with the schedule. Run by one process on the
/// whole batch, or by each of N ranks on its contiguous 1/N of it (SyncBN, gradient all-reduce); both write the same
/// record: the loss of every step, every gradient and BN running statistic after step 1, every parameter after step 3.
/// </summary>
public static class EquivalenceScenario
{
    public const int GlobalBatch = 8;
    public const int Size = 64;
    public const int Steps = 3;

    public static SparkModel Model(DType dtype)
    {
        var encoder = new ResNet(new ResNetConfig([2, 2, 2, 2], false, SmallStem: true, BaseWidth: 8),
            new ModelOptions { DType = dtype, Generator = new Generator(11) });
        var model = new SparkModel(encoder, Size, decoderWidth: 32, dtype: dtype, generator: new Generator(12));
        RandomiseNorms(model, dtype);
        return model;
    }

    /// <summary>The official init zeroes each block's last BN weight, which would zero most of the gradients compared:
    /// gives every 1-D weight and bias a generic value instead.</summary>
    public static void RandomiseNorms(Sparkle.Nn.Module model, DType dtype)
    {
        var g = new Generator(13);
        using (GradMode.NoGrad())
            foreach (var (name, p) in model.NamedParameters())
                if (p.Rank == 1 && name.EndsWith(".weight", StringComparison.Ordinal)) p.Copy_(Tensor.Rand(p.ShapeArray(), g, dtype: dtype) + 0.5);
                else if (p.Rank == 1 && name.EndsWith(".bias", StringComparison.Ordinal)) p.Copy_(Tensor.Randn(p.ShapeArray(), g, dtype: dtype) * 0.1);
    }

    /// <summary>Adds every parameter gradient and BN running statistic (and num_batches_tracked) to the record.</summary>
    public static void RecordGradientsAndStats(Sparkle.Nn.Module model, Dictionary<string, Tensor> record)
    {
        foreach (var (name, p) in model.NamedParameters())
            if (p.Grad is { } grad) record[$"grad.{name}"] = grad.Clone();
        foreach (var (name, b) in model.NamedBuffers())
            if (name.Contains("running_", StringComparison.Ordinal) || name.EndsWith("num_batches_tracked", StringComparison.Ordinal))
                record[$"buffer.{name}"] = b.Clone();
    }

    public static PretrainOptions Options => new() { Epochs = 2, WarmupEpochs = 1, BatchSize = GlobalBatch, BaseLr = 0.05, Seed = 3 };

    /// <summary>Batch images (B, 3, S, S) and masks (B, 1, f, f) of step <paramref name="step"/>, for the whole batch.</summary>
    public static (Tensor Images, Tensor Mask) Batch(int step, DType dtype, SparkModel model)
    {
        var images = Tensor.Randn([GlobalBatch, 3, Size, Size], new Generator(100 + (ulong)step), dtype: dtype);
        var mask = model.SampleMask(GlobalBatch, new Generator(200 + (ulong)step));
        return (images, mask);
    }

    /// <summary>Runs the scenario as rank <c>group.Rank</c> of <c>group.Size</c> and returns the record (same keys for
    /// any group size).</summary>
    public static Dictionary<string, Tensor> Run(DType dtype, ICommunicator group)
    {
        var model = Model(dtype);
        var trainer = new Pretrainer(model, Options, itersPerEpoch: 2, group) { Pool = null };
        int local = GlobalBatch / group.Size, first = group.Rank * local;
        var record = new Dictionary<string, Tensor>();
        for (int step = 0; step < Steps; step++)
        {
            var (images, mask) = Batch(step, dtype, model);
            double loss = trainer.Step(images.Slice(0, first, first + local).Contiguous(), mask.Slice(0, first, first + local).Contiguous());
            record[$"loss.{step}"] = Tensor.FromArray(new[] { loss }, [1]);
            if (step == 0) RecordGradientsAndStats(model, record);
        }
        foreach (var (name, p) in model.NamedParameters()) record[$"param.{name}"] = p.Detach().Clone();
        return record;
    }

    public static void Save(string path, Dictionary<string, Tensor> record) => SafeTensors.Save(path, record);
}
