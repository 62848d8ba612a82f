namespace Sparkle.Cli;

/// <summary>The `sparkle` command. <see cref="Run"/> is the whole program, callable in-process (the tests do).</summary>
public static class Program
{
    public const string Usage = """
        sparkle — SparK masked pre-training for CNNs, in managed C#

        usage: sparkle <command> [options]

          pretrain       SparK pre-training (defaults: a ~5-minute run on the built-in Fashion-MNIST subset)
          finetune       classification fine-tuning from a pre-trained encoder (--init-weight) or from scratch
          linear-probe   a linear classifier on frozen encoder features
          reconstruct    the picture grid input | masked | reconstruction from a with-decoder checkpoint
          export         the timm-style encoder file from a with-decoder checkpoint
          info           parameter counts and shapes of a model (e.g. sparkle info --model resnet50)
          bench          a timed SparK training step

        `sparkle <command> --help` lists a command's options; docs/cli.md describes them all.
        """;

    public static int Main(string[] args)
    {
        using var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            if (cts.IsCancellationRequested) return;              // a second Ctrl+C kills
            e.Cancel = true;
            cts.Cancel();
            Console.Error.WriteLine("sparkle: stopping after this step (Ctrl+C again to abort without a checkpoint)...");
        };
        return Run(args, Console.Out, Console.Error, cts.Token);
    }

    public static int Run(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, CancellationToken cancel = default)
    {
        if (args.Count == 0 || args[0] is "-h" or "--help" or "help")
        {
            stdout.WriteLine(Usage);
            return args.Count == 0 ? 2 : 0;
        }
        var rest = args.Skip(1).ToList();
        if (rest.Contains("--help") || rest.Contains("-h"))
        {
            stdout.WriteLine(Help.For(args[0]));
            return 0;
        }
        try
        {
            switch (args[0])
            {
                case "pretrain":
                    return PretrainCommand.Run(PretrainArgs.Parse(rest), stdout, cancel, stderr).ExitCode;
                case "finetune":
                    return FinetuneCommand.Run(FinetuneArgs.Parse(rest, linearProbe: false), stdout, stderr).ExitCode;
                case "linear-probe":
                    return FinetuneCommand.Run(FinetuneArgs.Parse(rest, linearProbe: true), stdout, stderr).ExitCode;
                case "reconstruct":
                    ToolCommands.Reconstruct(rest, stdout, stderr);
                    return 0;
                case "export":
                    ToolCommands.Export(rest, stdout);
                    return 0;
                case "info":
                    ToolCommands.Info(rest, stdout);
                    return 0;
                case "bench":
                    ToolCommands.Bench(rest, stdout);
                    return 0;
                default:
                    stderr.WriteLine($"sparkle: unknown command '{args[0]}'.");
                    stderr.WriteLine(Usage);
                    return 2;
            }
        }
        catch (UsageException e)
        {
            stderr.WriteLine($"sparkle {e.Message}");
            return 2;
        }
        catch (ArgumentException e)
        {
            stderr.WriteLine($"sparkle {args[0]}: {e.Message}");
            return 2;
        }
        catch (DeviceUnavailableException e)
        {
            stderr.WriteLine($"sparkle {e.Message}");
            return 1;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or InvalidDataException)
        {
            stderr.WriteLine($"sparkle {args[0]}: {e.Message}");
            return 1;
        }
    }
}
