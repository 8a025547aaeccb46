using System.Security.Cryptography;
using Bento.Core;
using Bento.Core.Manifest;
using Bento.Runtime.Server;

namespace Bento.Runtime.Tests.Server;

/// <summary>
/// A model directory mounted apart from the bento (BENTO_MODEL_DIR): every file bento.yaml lists is checked (size,
/// sha256) before the runtime starts; a missing, resized or altered file is refused by name; the hash cache means a
/// second start hashes nothing, and a file that changed since is hashed again.
/// </summary>
public sealed class ModelDirectoryTests : IDisposable
{
    private readonly TempDirectory _scratch = new("bento-modeldir-");

    private (BentoManifest Manifest, string Directory, string Cache) Setup()
    {
        var dir = _scratch.CreateDirectory("model");
        var manifest = new BentoManifest { Name = "mounted", Version = "0123456789abcdef" };
        foreach (var (name, size) in new[] { ("config.json", 100), ("model.safetensors", 300_000) })
        {
            var bytes = new byte[size];
            new Random(size).NextBytes(bytes);
            File.WriteAllBytes(Path.Combine(dir, name), bytes);
            manifest.Model.Files.Add(new ManifestFile { Path = name, Size = size, Sha256 = Convert.ToHexStringLower(SHA256.HashData(bytes)) });
        }
        return (manifest, dir, _scratch.Combine("cache", "hashes.json"));
    }

    [Fact]
    public async Task Intact_files_pass_and_a_restart_hashes_nothing()
    {
        var (manifest, dir, cache) = Setup();
        var first = await ModelDirectory.VerifyAsync(manifest, dir, cache);
        Assert.Equal((2, 2), (first.Files, first.Hashed));
        var second = await ModelDirectory.VerifyAsync(manifest, dir, cache);
        Assert.Equal(0, second.Hashed);
        Assert.Contains("2 file(s), 0 hashed", second.Describe());

        // Rewritten with the same bytes (a new inode and mtime): hashed again, and still accepted.
        var path = Path.Combine(dir, "model.safetensors");
        var bytes = await File.ReadAllBytesAsync(path);
        File.Delete(path);
        await File.WriteAllBytesAsync(path, bytes);
        Assert.Equal(1, (await ModelDirectory.VerifyAsync(manifest, dir, cache)).Hashed);
    }

    [Fact]
    public async Task Missing_resized_or_altered_files_are_refused_by_name()
    {
        var (manifest, dir, cache) = Setup();
        await ModelDirectory.VerifyAsync(manifest, dir, cache); // cached while intact
        var path = Path.Combine(dir, "model.safetensors");
        var original = await File.ReadAllBytesAsync(path);

        var altered = (byte[])original.Clone();
        altered[^1] ^= 0xff;
        await File.WriteAllBytesAsync(path, altered); // same size, new mtime: the cache does not vouch for it
        var e = await Assert.ThrowsAsync<BentoException>(() => ModelDirectory.VerifyAsync(manifest, dir, cache));
        Assert.Contains("model.safetensors has sha256", e.Message);
        Assert.Contains("BENTO_MODEL_DIR=", e.Message);
        Assert.Contains("refusing to serve mounted:0123456789abcdef", e.Message);

        await File.WriteAllBytesAsync(path, original[..^10]);
        Assert.Contains($"model.safetensors is {original.Length - 10} bytes, bento.yaml says {original.Length}",
            (await Assert.ThrowsAsync<BentoException>(() => ModelDirectory.VerifyAsync(manifest, dir, cache))).Message);

        File.Delete(path);
        Assert.Contains("model.safetensors is missing", (await Assert.ThrowsAsync<BentoException>(() => ModelDirectory.VerifyAsync(manifest, dir, cache))).Message);
        Assert.Contains("no such directory", (await Assert.ThrowsAsync<BentoException>(() => ModelDirectory.VerifyAsync(manifest, dir + "-absent", cache))).Message);
    }

    public void Dispose() => _scratch.Dispose();
}
