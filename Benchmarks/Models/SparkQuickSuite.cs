using Sparkle.Benchmarks.Quick;
using Sparkle.Models;
using Sparkle.Models.Spark;
using Sparkle.Models.Training;
using Sparkle.Tensors;
using Sparkle.Tensors.Cpu;

namespace Sparkle.Benchmarks.Models;

/// <summary>`quick spark [r18|r50] [size=96] [batch=32] [mask=0.6] [width=768] [threads=2] [reps=5] [pool=1] [profile=0]`:
/// one SparK pre-training step — <see cref="Pretrainer.Step"/>, the step `sparkle pretrain` runs (schedule, sparse forward,
/// loss, backward, LAMB with clipping, NaN stop, its TensorPool; pool=0: without the pool) timed by <see cref="StepTimer"/> —
/// and the forward alone, as refbench's spark lines (`../shared/refbench/run spark 2`). Prints
/// `spark r18 96 b32 step median_ms=... loss=... alloc_mb_per_step=... gc012_per_step=... peak_rss_mb=...` and the device
/// counter line of `sparkle bench` (`launches_per_step=0 host_reads_per_step=0 device_allocs_per_step=N device_peak_mb=N`).</summary>
public sealed class SparkQuickSuite : IQuickSuite
{
    public string Name => "spark";

    public void Run(string[] args)
    {
        var opts = QuickArgs.Parse(args);
        int size = opts.Int("size", 96), batch = opts.Int("batch", 32), reps = opts.Int("reps", 5), width = opts.Int("width", 768);
        double mask = opts.Double("mask", 0.6);
        IntraOpPool.NumThreads = opts.Int("threads", 2);
        StoragePool.MaxSlack = opts.Double("slack", StoragePool.MaxSlack);
        StoragePool.ReclaimEveryBytes = opts.Int("reclaim_mb", (int)(StoragePool.ReclaimEveryBytes >> 20)) * (1L << 20);
        // pool=0 turns the tensor memory pool off (to compare); the training loops (Pretrainer, the CLI) use it.
        var pool = opts.Int("pool", 1) == 1 ? new TensorPool() : null;
        foreach (var arch in opts.Words.Count > 0 ? opts.Words : ["r18"])
        {
            var encoder = arch == "r50" ? ResNet.ResNet50(new ModelOptions { Generator = new Generator(0) }) : ResNet.ResNet18(new ModelOptions { Generator = new Generator(0) });
            var spark = new SparkModel(encoder, size, mask, width, generator: new Generator(1));
            // SparK's defaults (PretrainOptions) for one epoch as long as this run; only the pool is the suite's choice.
            var trainer = new Pretrainer(spark, new PretrainOptions { Epochs = 1, WarmupEpochs = 0, BatchSize = batch }, itersPerEpoch: reps + 4) { Pool = pool };
            var images = Tensor.Randn([batch, 3, size, size], new Generator(2));
            var g = new Generator(3);
            double loss = 0;
            var fwd = QuickRunner.Time(() =>
            {
                using (Sparkle.Autograd.GradMode.NoGrad())
                using (pool?.Use())
                    spark.Loss(images, spark.SampleMask(batch, g));
                pool?.Reclaim();                        // a forward-only loop has no backward safe points
            }, reps, 1);
            // Two steps fill the pool (sizes are the same every step from then on), then the timed steps.
            for (int i = 0; i < 2; i++) trainer.Step(images);
            int[] gcBefore = [GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2)];
            long allocBefore = GC.GetTotalAllocatedBytes(precise: true);
            var statsBefore = pool?.Stats ?? default;
            using var ticks = opts.Int("allocticks", 0) == 1 ? new AllocationTicks() : null;
            ticks?.Start();
            var step = StepTimer.Run(trainer, images, warmup: 0, reps);
            loss = step.LastLoss;
            foreach (var (type, bytes) in ticks?.Stop().Take(12) ?? [])
                Console.WriteLine($"# allocated per step (sampled): {bytes / 1e6 / reps,8:F1} MB {type}");
            // Per timed step: managed bytes allocated (tensor storages are managed arrays, so without the pool this
            // counts activations too), collections per generation (the pool's own full collections included), and
            // what the pool allocated fresh.
            var stats = pool?.Stats ?? default;
            double allocMb = (GC.GetTotalAllocatedBytes(precise: true) - allocBefore) / 1e6 / reps;
            string gcs = string.Join("/", Enumerable.Range(0, 3).Select(i => ((GC.CollectionCount(i) - gcBefore[i]) / (double)reps).ToString("F1")));
            string poolLine = pool is null ? "pool=off" :
                $"pool_fresh_mb_per_step={(stats.Fresh - statsBefore.Fresh) / 1e6 / reps:F0} pool_gc_ms_per_step={(stats.CollectionMs - statsBefore.CollectionMs) / reps:F0} pool_peak_free_mb={stats.PeakFree / 1e6:F0}";
            if (opts.Int("parts", 0) == 1)
            {
                // Forward with grad on, by stage: the sparse encoder + densify, then the whole reconstruction (decoder =
                // the difference), then with the loss.
                var active = spark.SampleMask(batch, g);
                var dens = QuickRunner.Time(() => { using (pool?.Use()) spark.Densify(images, active); pool?.Reclaim(); }, reps, 1);
                var rec = QuickRunner.Time(() => { using (pool?.Use()) spark.Reconstruct(images, active); pool?.Reclaim(); }, reps, 1);
                Console.WriteLine($"# forward with grad: encoder+densify {dens.MedianMs:F0} ms, + decoder {rec.MedianMs:F0} ms (decoder ~{rec.MedianMs - dens.MedianMs:F0} ms)");
            }
            if (opts.Int("trace", 0) == 1 && pool is not null)
            {
                var proc = System.Diagnostics.Process.GetCurrentProcess();
                long minFree = long.MaxValue;
                List<(Type Type, int Length, int Count)> atMin = [];
                Sparkle.Tensors.Cpu.StoragePool.Trace = p =>
                {
                    proc.Refresh();
                    if (p.BytesFree < minFree) { minFree = p.BytesFree; atMin = p.FreeLists().ToList(); }
                    Console.WriteLine($"# trace handed={(p.FreshBytes + p.ReusedBytes) / 1e6:F0} fresh={p.FreshBytes / 1e6:F0} free={p.BytesFree / 1e6:F0} gc_heap={GC.GetTotalMemory(false) / 1e6:F0} rss={proc.WorkingSet64 / 1e6:F0}");
                };
                Console.WriteLine("# trace step (forward, backward, optimizer)");
                trainer.Step(images);
                Sparkle.Tensors.Cpu.StoragePool.Trace = null;
                Console.WriteLine($"# free lists at the lowest point of the step ({minFree / 1e6:F0} MB):");
                foreach (var (type, length, count) in atMin.Take(25))
                    Console.WriteLine($"# free {count,3} x {length,10} {type.Name} = {(long)length * count * System.Runtime.InteropServices.Marshal.SizeOf(type) / 1e6:F1} MB");
            }
            if (opts.Int("saved", 0) == 1)
            {
                long live0 = GC.GetTotalMemory(forceFullCollection: true), alloc0 = GC.GetTotalAllocatedBytes(true);
                var p0 = pool?.Stats ?? default;
                Tensor l;
                using (pool?.Use()) l = spark.Loss(images, spark.SampleMask(batch, g));
                long alloc1 = GC.GetTotalAllocatedBytes(true);
                var p1 = pool?.Stats ?? default;
                long live1 = GC.GetTotalMemory(forceFullCollection: true);
                Console.WriteLine($"# forward: managed allocation {(alloc1 - alloc0) / 1e6:F0} MB, pool handed out {(p1.Fresh + p1.Reused - p0.Fresh - p0.Reused) / 1e6:F0} MB");
                double total = 0;
                foreach (var (op, nodes, mb) in SavedInventory.ByOp(l)) { total += mb; if (mb > 1) Console.WriteLine($"# saved {mb,8:F1} MB {nodes,4} x {op}"); }
                Console.WriteLine($"# saved total {total:F0} MB (listed by nodes); live after forward - before: {(live1 - live0) / 1e6:F0} MB (pool free lists count as live)");
                long alloc2 = GC.GetTotalAllocatedBytes(true);
                using (pool?.Use()) l.Backward();
                var p2 = pool?.Stats ?? default;
                Console.WriteLine($"# backward: managed allocation {(GC.GetTotalAllocatedBytes(true) - alloc2) / 1e6:F0} MB, pool handed out {(p2.Fresh + p2.Reused - p1.Fresh - p1.Reused) / 1e6:F0} MB");
                trainer.Optimizer.ZeroGrad();
            }
            if (opts.Int("profile", 0) == 1)
            {
                Sparkle.Autograd.BackwardProfile.Enabled = true;
                Sparkle.Autograd.BackwardProfile.Reset();
                trainer.Step(images);
                Sparkle.Autograd.BackwardProfile.Enabled = false;
                Console.WriteLine("# backward time by node:" + Environment.NewLine + Sparkle.Autograd.BackwardProfile.Report());
            }
            Console.WriteLine($"spark {arch} {size} b{batch} fwd  median_ms={fwd.MedianMs:F1} min_ms={fwd.MinMs:F1} width={width} mask={mask} threads={IntraOpPool.NumThreads}");
            Console.WriteLine($"spark {arch} {size} b{batch} step median_ms={step.MedianMs:F1} min_ms={step.MinMs:F1} width={width} mask={mask} threads={IntraOpPool.NumThreads} loss={loss:F4}"
                + $" alloc_mb_per_step={allocMb:F1} gc012_per_step={gcs} peak_rss_mb={System.Diagnostics.Process.GetCurrentProcess().PeakWorkingSet64 / 1e6:F0} {poolLine}");
            Console.WriteLine(step.Counters.ToString());
        }
    }
}
