namespace Bento.Cli.Output;

/// <summary>Plain aligned columns, like `docker images`: greppable and stable in scripts.</summary>
public static class Table
{
    public static void Write(string[] headers, IReadOnlyList<string[]> rows)
    {
        var widths = headers.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        Console.Out.WriteLine(Line(headers, widths));
        foreach (var row in rows) Console.Out.WriteLine(Line(row, widths));
    }

    private static string Line(string[] cells, int[] widths) =>
        string.Join("  ", cells.Select((c, i) => i == cells.Length - 1 ? c : c.PadRight(widths[i]))).TrimEnd();
}
