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
        Exit codes: 0 done, 1 bad input or error, 2 usage, 3 non-finite loss, 130 stopped by Ctrl+C.
        Errors are one line; --debug (or SPARKLE_DEBUG=1) adds the stack trace.
        """;

    public static int Main(string[] args)
    {
        using var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            if (cts.IsCancellationRequested)
            {   // A second Ctrl+C ends the process now: remove the temp file of a checkpoint write it cuts short.
                if (RunFolder.Active is { } dir) RunFolder.RemoveTempFiles(dir);
                return;
            }
            e.Cancel = true;
            cts.Cancel();
            Console.Error.WriteLine("sparkle: stopping after this step (Ctrl+C again to abort without a checkpoint)...");
        };
        return Run(args, Console.Out, Console.Error, cts.Token);
    }

    /// <summary>Runs one command; returns its exit code (<see cref="ExitCodes"/>). Errors end with one line on
    /// <paramref name="stderr"/>; the stack trace only with --debug (any position) or SPARKLE_DEBUG=1.</summary>
    public static int Run(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, CancellationToken cancel = default)
    {
        bool debug = args.Contains(ErrorReport.DebugFlag) || ErrorReport.DebugFromEnvironment;
        args = args.Where(a => a != ErrorReport.DebugFlag).ToList();
        if (args.Count == 0 || args[0] is "-h" or "--help" or "help")
        {
            stdout.WriteLine(Usage);
            return args.Count == 0 ? ExitCodes.Usage : ExitCodes.Ok;
        }
        var rest = args.Skip(1).ToList();
        if (rest.Contains("--help") || rest.Contains("-h"))
        {
            stdout.WriteLine(Help.For(args[0]));
            return ExitCodes.Ok;
        }
        try
        {
            return Dispatch(args[0], rest, stdout, stderr, cancel);
        }
        catch (Exception e)
        {
            var (code, message) = ErrorReport.Describe(e, args[0]);
            stderr.WriteLine(message);
            if (debug) stderr.WriteLine(e.ToString());
            return code;
        }
    }

    private static int Dispatch(string command, List<string> rest, TextWriter stdout, TextWriter stderr, CancellationToken cancel)
    {
        switch (command)
        {
            case "pretrain":
                return PretrainCommand.Run(PretrainArgs.Parse(rest), stdout, cancel, stderr).ExitCode;
            case "finetune":
                return FinetuneCommand.Run(FinetuneArgs.Parse(rest, linearProbe: false), stdout, cancel, stderr).ExitCode;
            case "linear-probe":
                return FinetuneCommand.Run(FinetuneArgs.Parse(rest, linearProbe: true), stdout, cancel, stderr).ExitCode;
            case "reconstruct":
                ToolCommands.Reconstruct(rest, stdout, stderr);
                return ExitCodes.Ok;
            case "export":
                ToolCommands.Export(rest, stdout);
                return ExitCodes.Ok;
            case "info":
                ToolCommands.Info(rest, stdout);
                return ExitCodes.Ok;
            case "bench":
                ToolCommands.Bench(rest, stdout);
                return ExitCodes.Ok;
            default:
                stderr.WriteLine($"sparkle: unknown command '{command}'.");
                stderr.WriteLine(Usage);
                return ExitCodes.Usage;
        }
    }
}
