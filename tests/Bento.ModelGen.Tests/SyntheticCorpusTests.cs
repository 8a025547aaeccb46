using System.Text.RegularExpressions;

namespace Bento.ModelGen.Tests;

public class SyntheticCorpusTests
{
    [Fact]
    public void SameSeedSameTextOtherSeedOtherText()
    {
        Assert.Equal(SyntheticCorpus.Generate(42), SyntheticCorpus.Generate(42));
        Assert.NotEqual(SyntheticCorpus.Generate(42), SyntheticCorpus.Generate(43));
    }

    [Fact]
    public void CountingIsTheLargestShareAndIncludesOneToSeven()
    {
        var lines = SyntheticCorpus.Lines(42, 4000).ToList();
        Assert.Equal(4000, lines.Count);
        var counting = lines.Where(l => Regex.IsMatch(l, @"^\d+( \d+)+$")).ToList();
        Assert.InRange(counting.Count / (double)lines.Count, 0.5, 0.7);
        Assert.Contains(counting, l => l.StartsWith("1 2 3 4 5 6 7", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("Q: What comes after ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith('.') && l.Contains(" the ", StringComparison.Ordinal));
        // Every counting line is an arithmetic progression with step 1, -1 or 2.
        foreach (var line in counting)
        {
            var n = line.Split(' ').Select(int.Parse).ToArray();
            var step = n[1] - n[0];
            Assert.Contains(step, new[] { 1, -1, 2 });
            Assert.All(Enumerable.Range(1, n.Length - 1), i => Assert.Equal(step, n[i] - n[i - 1]));
            Assert.All(n, x => Assert.True(x >= 0));
        }
    }

    [Fact]
    public void AnswersAreCorrect()
    {
        foreach (var line in SyntheticCorpus.Lines(42, 4000))
        {
            var after = Regex.Match(line, @"^Q: What comes after (\d+)\? A: (\d+)$");
            if (after.Success)
                Assert.Equal(int.Parse(after.Groups[1].Value) + 1, int.Parse(after.Groups[2].Value));
            var before = Regex.Match(line, @"^Q: What comes before (\d+)\? A: (\d+)$");
            if (before.Success)
                Assert.Equal(int.Parse(before.Groups[1].Value) - 1, int.Parse(before.Groups[2].Value));
            var plus = Regex.Match(line, @"^Q: What is (\d+) plus (\d+)\? A: (\d+)$");
            if (plus.Success)
                Assert.Equal(int.Parse(plus.Groups[1].Value) + int.Parse(plus.Groups[2].Value), int.Parse(plus.Groups[3].Value));
        }
    }
}
