using System.Globalization;

namespace Sparkle.Cli;

/// <summary>A command-line error: printed as "sparkle: message" with exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>
/// A small, strict parser: <c>--name value</c>, <c>--name=value</c> and bare <c>--flag</c> for booleans. Unknown options,
/// missing values, repeated options and values that do not parse are errors that name the option.
/// </summary>
public sealed class Args
{
    private readonly Dictionary<string, string?> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);
    private readonly string _command;

    private Args(string command) => _command = command;

    public IReadOnlyList<string> Positionals { get; private set; } = [];

    /// <summary>Parses <paramref name="argv"/> against the option names (without "--") of <paramref name="flags"/> (no value)
    /// and <paramref name="valued"/> (one value each).</summary>
    public static Args Parse(string command, IReadOnlyList<string> argv, IEnumerable<string> valued, IEnumerable<string>? flags = null)
    {
        var valuedSet = new HashSet<string>(valued, StringComparer.Ordinal);
        var flagSet = new HashSet<string>(flags ?? [], StringComparer.Ordinal);
        var a = new Args(command);
        var positionals = new List<string>();
        for (int i = 0; i < argv.Count; i++)
        {
            string arg = argv[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg == "--")
            {
                positionals.Add(arg);
                continue;
            }
            string name = arg[2..];
            string? value = null;
            int eq = name.IndexOf('=', StringComparison.Ordinal);
            if (eq >= 0) (name, value) = (name[..eq], name[(eq + 1)..]);
            name = name.Replace('_', '-');
            if (flagSet.Contains(name))
            {
                value ??= "true";
            }
            else if (valuedSet.Contains(name))
            {
                if (value is null)
                {
                    if (i + 1 >= argv.Count) throw new UsageException($"{command}: option --{name} needs a value.");
                    value = argv[++i];
                }
            }
            else
            {
                var known = valuedSet.Concat(flagSet).OrderBy(s => s, StringComparer.Ordinal).Select(s => "--" + s);
                var owners = Help.CommandsTaking(name).Where(c => c != command).ToList();
                string where = owners.Count > 0 ? $"--{name} is an option of {string.Join(", ", owners)}, not of {command}" : $"unknown option --{name}";
                throw new UsageException($"{command}: {where}. Options: {string.Join(" ", known)}.");
            }
            if (!a._values.TryAdd(name, value)) throw new UsageException($"{command}: option --{name} given twice.");
        }
        a.Positionals = positionals;
        return a;
    }

    public bool Has(string name) => _values.ContainsKey(name);

    public string? String(string name, string? fallback = null) => _values.TryGetValue(name, out var v) ? v : fallback;

    public int Int(string name, int fallback, int min = int.MinValue)
    {
        if (!_values.TryGetValue(name, out var v)) return fallback;
        if (!int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int r))
            throw new UsageException($"{_command}: --{name} expects an integer, got '{v}'.");
        if (r < min) throw new UsageException($"{_command}: --{name} must be at least {min}, got {r}.");
        return r;
    }

    public long Long(string name, long fallback)
    {
        if (!_values.TryGetValue(name, out var v)) return fallback;
        return long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out long r) ? r
            : throw new UsageException($"{_command}: --{name} expects an integer, got '{v}'.");
    }

    public double Double(string name, double fallback, double min = double.NegativeInfinity, double max = double.PositiveInfinity)
    {
        if (!_values.TryGetValue(name, out var v)) return fallback;
        if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double r) || !double.IsFinite(r))
            throw new UsageException($"{_command}: --{name} expects a number, got '{v}'.");
        if (r < min || r > max) throw new UsageException($"{_command}: --{name} must lie in [{min}, {max}], got {r}.");
        return r;
    }

    public bool Bool(string name, bool fallback)
    {
        if (!_values.TryGetValue(name, out var v)) return fallback;
        return v switch
        {
            "true" or "1" or "yes" => true,
            "false" or "0" or "no" => false,
            _ => throw new UsageException($"{_command}: --{name} expects true or false, got '{v}'."),
        };
    }

    public string Choice(string name, string fallback, params string[] choices)
    {
        var v = String(name, fallback)!;
        return choices.Contains(v) ? v : throw new UsageException($"{_command}: --{name} must be one of {string.Join(", ", choices)}, got '{v}'.");
    }
}
