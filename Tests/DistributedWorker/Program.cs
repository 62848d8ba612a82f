using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Sparkle.Distributed;
using Sparkle.DistributedWorker;
using Sparkle.Models;
using Sparkle.Nn.Parallel;
using Sparkle.Tensors;

// The program the distributed tests start under mpiexec: `Sparkle.DistributedWorker <mode> <output folder> [args]`.
// Each mode exercises one thing on every rank and writes what it saw for the test to compare; failures go to stderr
// with the rank, and the exit code is non-zero.
if (args.Length < 2)
{
    Console.Error.WriteLine("usage: Sparkle.DistributedWorker collectives|equivalence|finetune-equivalence|overlap|die|hang|allreduce-time|overlap-time <output folder> [float32|float64|resnet18|resnet50] [size batch pairs]");
    return 2;
}
string mode = args[0], output = args[1];
Directory.CreateDirectory(output);
MpiCommunicator group;
try { group = MpiCommunicator.Initialize(); }
catch (MpiUnavailableException e) { Console.Error.WriteLine($"sparkle worker: {e.Message}"); return 5; }
using (group)
{
    switch (mode)
    {
        case "collectives":
            Collectives(group, output);
            break;
        case "equivalence":
        {
            var dtype = args.Length > 2 && args[2] == "float32" ? DType.Float32 : DType.Float64;
            var record = EquivalenceScenario.Run(dtype, group);
            if (group.Rank == 0) EquivalenceScenario.Save(Path.Combine(output, $"equivalence-{dtype.Name()}.safetensors"), record);
            break;
        }
        case "finetune-equivalence":
        {
            var record = FinetuneScenario.Run(DType.Float64, group);
            if (group.Rank == 0) EquivalenceScenario.Save(Path.Combine(output, "finetune-equivalence.safetensors"), record);
            break;
        }
        case "overlap":
        {
            var result = OverlapScenario.Run(group);
            File.WriteAllText(Path.Combine(output, $"overlap-{group.Rank}.json"), JsonSerializer.Serialize(result));
            break;
        }
        case "overlap-time":
        {
            int Arg(int i, int fallback) => args.Length > i ? int.Parse(args[i], CultureInfo.InvariantCulture) : fallback;
            string model = args.Length > 2 ? args[2] : "resnet18";
            string line = OverlapScenario.Time(group, model, Arg(3, 96), Arg(4, 2), Arg(5, 5));
            File.WriteAllText(Path.Combine(output, $"overlap-{model}-{group.Rank}.txt"), line);
            break;
        }
        case "die":
            // Rank 1 dies before the collective its peers wait in: the launcher must end the job, not hang.
            if (group.Rank == 1) Environment.Exit(3);
            group.AllReduceSum(new double[4]);
            break;
        case "hang":
            // Rank 1 never reaches the collective: the watchdog of rank 0 must abort the job after SPARKLE_DIST_TIMEOUT.
            if (group.Rank == 1) Thread.Sleep(Timeout.Infinite);
            group.AllReduceSum(new double[4]);
            break;
        case "allreduce-time":
            AllReduceTime(group, output, args.Length > 2 ? args[2] : "resnet18");
            break;
        default:
            Console.Error.WriteLine($"sparkle worker: unknown mode '{mode}'.");
            return 2;
    }
    group.Barrier();
}
return 0;

static void Collectives(ICommunicator g, string output)
{
    int r = g.Rank, n = g.Size;
    var f = new float[] { r + 1, 10 * (r + 1), -r };
    var d = new double[] { 0.5 * r, 1e-300 * (r + 1) };
    var l = new long[] { long.MaxValue / 4 * (r == 0 ? 1 : 0), r };
    g.AllReduceSum(f); g.AllReduceSum(d); g.AllReduceSum(l);
    var mx = new double[] { r, -r };
    g.AllReduceMax(mx);
    var bf = new float[] { r == 1 ? 7.5f : 0 };
    var bd = new double[] { r == 0 ? Math.PI : 0 };
    var bl = new long[] { r == 0 ? -42 : 0 };
    g.Broadcast(bf, root: n > 1 ? 1 : 0); g.Broadcast(bd); g.Broadcast(bl);
    var t = Tensor.FromArray(new float[] { r, 1 }, [2]).Expand(3, 2);   // a strided view: staged through a copy
    var dense = t.Contiguous();
    g.AllReduceSum(dense);
    g.Barrier();
    File.WriteAllText(Path.Combine(output, $"collectives-{r}.json"), JsonSerializer.Serialize(new
    {
        rank = r, size = n, description = g.Description, f, d, l, max = mx, bf, bd, bl, tensor = dense.ToArray<float>(),
    }));
}

// The gradient all-reduce of a ResNet's parameters alone (no model step): the communication cost per step.
static void AllReduceTime(ICommunicator g, string output, string model)
{
    var net = Backbones.Create(model, new ModelOptions { Initialize = false, NumClasses = 1000 });
    var ps = net.Parameters().ToList();
    foreach (var p in ps) p.Grad = Tensor.OnesLike(p);
    var ar = new GradientAllReduce(g, ps);
    ar.Run();                                   // warm-up: buckets allocated, connections made
    var times = new List<double>();
    for (int i = 0; i < 10; i++) { g.Barrier(); ar.Run(); times.Add(ar.LastSeconds); }
    times.Sort();
    if (g.Rank == 0)
        File.WriteAllText(Path.Combine(output, $"allreduce-{model}.txt"), string.Create(CultureInfo.InvariantCulture,
            $"{model}: {ps.Sum(p => (long)p.NumElements)} parameters, {ar.LastCalls} calls, median {times[times.Count / 2] * 1000:F1} ms, min {times[0] * 1000:F1} ms over {times.Count} runs, {g.Description}\n"));
}
