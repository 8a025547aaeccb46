// Command-line options of the benchmark programs: "--name value" pairs (compiled into each of them).

sealed class Args
{
    private readonly Dictionary<string, string> _values = new();

    public static Args Parse(string[] args)
    {
        var a = new Args();
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--") || i + 1 >= args.Length)
                throw new ArgumentException($"unexpected argument '{args[i]}' (options are --name value)");
            a._values[args[i][2..]] = args[++i];
        }
        return a;
    }

    public string Get(string name, string fallback) => _values.GetValueOrDefault(name, fallback);
    public int Int(string name, int fallback) => _values.TryGetValue(name, out var v) ? int.Parse(v) : fallback;
}
