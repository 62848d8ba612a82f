using Sparkle.Models;
using Sparkle.Models.Training;
using Sparkle.Nn.Parallel;
using Sparkle.Tensors;

namespace Sparkle.DistributedWorker;

/// <summary>
/// The data-parallel fine-tuning equivalence scenario: a 1/8-width ResNet-18 (small stem) classifier at 32 px, a
/// global batch of <see cref="GlobalBatch"/> fixed images and labels, 3 AdamW steps with the schedule and SyncBN. Run
/// by one process on the whole batch, or by each of N ranks on its contiguous 1/N; both return the same record: the
/// loss of every step, every gradient and BN running statistic after step 1, every parameter after step 3.
/// </summary>
public static class FinetuneScenario
{
    public const int GlobalBatch = 8;
    public const int Size = 32;
    public const int Classes = 5;
    public const int Steps = 3;

    public static FinetuneOptions Options => new()
    {
        Epochs = 2, WarmupEpochs = 1, BatchSize = GlobalBatch, Lr = 1e-2, WeightDecay = 0.05, Seed = 3, SyncBatchNorm = true,
    };

    public static Dictionary<string, Tensor> Run(DType dtype, ICommunicator group)
    {
        var backbone = new ResNet(new ResNetConfig([2, 2, 2, 2], false, SmallStem: true, BaseWidth: 8),
            new ModelOptions { DType = dtype, Generator = new Generator(11) });
        var model = new Classifier(backbone, Classes, new Generator(12));
        EquivalenceScenario.RandomiseNorms(model, dtype);
        var tuner = new Finetuner(model, Options, itersPerEpoch: 2, group);
        int local = GlobalBatch / group.Size, first = group.Rank * local;
        var record = new Dictionary<string, Tensor>();
        for (int step = 0; step < Steps; step++)
        {
            var images = Tensor.Randn([GlobalBatch, 3, Size, Size], new Generator(100 + (ulong)step), dtype: dtype);
            var labels = Tensor.FromArray(Enumerable.Range(0, GlobalBatch).Select(i => (long)((i * 3 + step) % Classes)).ToArray(), [GlobalBatch]);
            double loss = tuner.Step(images.Slice(0, first, first + local).Contiguous(), labels.Slice(0, first, first + local).Contiguous());
            record[$"loss.{step}"] = Tensor.FromArray(new[] { loss }, [1]);
            if (step == 0) EquivalenceScenario.RecordGradientsAndStats(model, record);
        }
        foreach (var (name, p) in model.NamedParameters()) record[$"param.{name}"] = p.Detach().Clone();
        return record;
    }
}
