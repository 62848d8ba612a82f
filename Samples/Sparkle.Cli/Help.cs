namespace Sparkle.Cli;

internal static class Help
{
    public static readonly string[] Commands = ["pretrain", "finetune", "linear-probe", "reconstruct", "export", "info", "bench"];

    /// <summary>The commands whose help lists --<paramref name="option"/> (for the error of an option given to the wrong command).</summary>
    public static IEnumerable<string> CommandsTaking(string option) => Commands.Where(c =>
    {
        string text = For(c);
        for (int i = text.IndexOf("--" + option, StringComparison.Ordinal); i >= 0; i = text.IndexOf("--" + option, i + 1, StringComparison.Ordinal))
        {
            int end = i + 2 + option.Length;
            if (end == text.Length || !(char.IsAsciiLetterOrDigit(text[end]) || text[end] == '-')) return true;
        }
        return false;
    });

    public static string For(string command) => command switch
    {
        "pretrain" => """
            sparkle pretrain [options]          SparK pre-training (SPARK.md §5; defaults: a small run on the built-in data)
              --model resnet18                  resnet18..200, convnext_atto..large
              --input-size 32                   ResNets below 128 px use the small stem (total stride 8); --small-stem true|false overrides
                                                (with --init-weight, the file's stem is the default)
              --mask 0.6  --batch-size 32 (--bs)  --base-lr 0.032 (lr = base_lr·batch/256 = 4e-3)
              --wd 0.04  --wde 0.2  --epochs 2 (--ep)  --warmup-epochs 0.2 (--wp-ep)
              --opt lamb|adamw|sgd  --ada 0 (β2; 0 = 0.95 ResNet / 0.999 ConvNeXt)  --clip 5  --dp 0 (0 = per-model default)
              --dec-width 128                   decoder width (SparK: 768)
              --data SPEC                       builtin (default) | fashion-mnist | DIR (IDX files or ImageFolder)
              --strict-images                   stop (exit 1) at the first truncated/corrupt image instead of skipping it
              --output runs/pretrain  --resume CKPT
              --init-weight FILE                an encoder state dict (safetensors: pretrain/export output, timm, torchvision; head ignored)
                                                or a with-decoder checkpoint
              --overwrite                       replace the run in a non-empty --output (refused otherwise, unless --resume)
              --seed 1  --threads N (all cores)  --workers N  --log-every 10  --vis-images 8  --quiet
              --device cpu                      cpu | cuda | opencl | ilgpu-cpu (ILGPU's CPU simulator, tests only), optionally :INDEX
              --distributed                     data parallel over MPI: mpiexec -n N sparkle pretrain --distributed ... (MPICH;
                                                --batch-size is global, SyncBN; rank 0 logs and writes; docs/distributed.md)
            """,
        "finetune" or "linear-probe" => $"""
            sparkle {command} [options]          classification on the test split, top-1
              --init-weight FILE                an encoder state dict (safetensors: pretrain/export output, timm, torchvision; the
                                                classifier head is ignored) or a with-decoder checkpoint; absent = from scratch
              --labels 1000                     label budget, class-balanced (0 = all)
              --model resnet18  --input-size 32  --data SPEC  --epochs {(command == "finetune" ? 4 : 30)}  --warmup-epochs  --batch-size 64
              --small-stem true|false           ResNets: the 3x3 stride-1 stem, total stride 8 (default: below 128 px, or --init-weight's stem)
              --base-lr {(command == "finetune" ? "4e-3" : "0.04")} (lr = base_lr·batch/256)  --wd  --opt adamw|sgd  --smoothing 0.1  --clip 0  --dp 0
              --output runs/{command}  --overwrite (replace the run there)  --seed 1  --threads N  --workers N  --test-limit 0  --quiet
              --strict-images                   stop (exit 1) at the first truncated/corrupt image instead of skipping it
              --device cpu                      cpu | cuda | opencl | ilgpu-cpu, optionally :INDEX
              --distributed                     data parallel over MPI: mpiexec -n N sparkle {command} --distributed ... (MPICH;
                                                --batch-size is global; rank 0 logs and writes; docs/distributed.md)
              --sync-bn                         finetune with --distributed: BN statistics over all ranks (the official recipe's option)
            """,
        "reconstruct" => "sparkle reconstruct CKPT [--images 8] [--data SPEC] [--output FILE] [--seed 1] [--strict-images]   picture grid from a with-decoder checkpoint",
        "export" => "sparkle export CKPT [--output FILE]   timm-style encoder file from a with-decoder checkpoint",
        "info" => "sparkle info [--model resnet50] [--input-size 224] [--dec-width 768] [--shapes]   parameter counts and shapes",
        "bench" => """
            sparkle bench [--model --input-size --small-stem --mask --batch-size --base-lr --opt --ada --clip --dp --dec-width
                         --threads --device --seed] [--reps 5]   timed SparK training steps on random data
              e.g. --model resnet50 --input-size 224 --batch-size 64 --dec-width 768 --device cuda (SPARKLE_TF32=0: exact FP32)
              prints the step time, the per-step counters and one line for scripts:
              bench_result model=.. input=.. batch=.. ... step_ms=.. min_ms=.. img_s=.. peak_mb=.. launches_per_step=.. loss=..
            """,
        _ => Program.Usage,
    };
}
