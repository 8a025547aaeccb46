namespace Bento.ModelGen.Tests;

public class StableHashTests
{
    [Theory]
    [InlineData("", 0xcbf29ce484222325UL)]   // published FNV-1a 64 test vectors
    [InlineData("a", 0xaf63dc4c8601ec8cUL)]
    [InlineData("foobar", 0x85944171f73967e8UL)]
    public void Fnv1a64MatchesReferenceVectors(string text, ulong expected) =>
        Assert.Equal(expected, StableHash.Fnv1a64(text));

    [Fact]
    public void TensorSeedDependsOnSeedAndName()
    {
        var a = StableHash.TensorSeed(42, "model.norm.weight");
        Assert.Equal(a, StableHash.TensorSeed(42, "model.norm.weight"));
        Assert.NotEqual(a, StableHash.TensorSeed(43, "model.norm.weight"));
        Assert.NotEqual(a, StableHash.TensorSeed(42, "lm_head.weight"));
    }
}
