using Bento.Core;
using Bento.Core.IO;
using Bento.Core.Manifest;
using Bento.Core.Serving;
using Bento.Core.Store;

namespace Bento.Runtime.Server;

/// <summary>
/// A model directory mounted apart from the bento (<see cref="ImageContract.ModelDirectoryVariable"/>: a slim image
/// with its model artifact mounted as a volume, or a host directory bound in): before anything is loaded, every model
/// file bento.yaml lists must be there with its size and sha256, or the runtime refuses to start naming the file.
/// Hashes are remembered by path, size, mtime, inode and device (<see cref="HashCache"/>, kept in the temp directory,
/// which survives container restarts within a pod), so a restart re-hashes nothing.
/// </summary>
public static class ModelDirectory
{
    public sealed record Verified(string Directory, int Files, int Hashed, long BytesHashed)
    {
        public string Describe() =>
            $"model files in {Directory} ({ImageContract.ModelDirectoryVariable}) match bento.yaml: {Files} file(s), {Hashed} hashed " +
            $"({BytesHashed >> 20} MiB), {Files - Hashed} unchanged since last verified";
    }

    /// <summary>The directory named by the variable, or null when it is not set (the bento's own model/ is used).</summary>
    public static string? FromEnvironment() =>
        Environment.GetEnvironmentVariable(ImageContract.ModelDirectoryVariable) is { Length: > 0 } dir ? Path.GetFullPath(dir) : null;

    public static string DefaultHashCachePath() => Path.Combine(Path.GetTempPath(), ImageContract.ModelHashCacheFile);

    /// <summary>Checks every model file; throws a <see cref="BentoException"/> naming the first missing or altered one.</summary>
    public static async Task<Verified> VerifyAsync(BentoManifest manifest, string directory, string hashCachePath, CancellationToken ct = default)
    {
        var variable = $"{ImageContract.ModelDirectoryVariable}={directory}";
        if (!System.IO.Directory.Exists(directory))
            throw new BentoException($"{variable}: no such directory; mount the bento's model artifact (or its model/ folder) there");
        var cache = HashCache.Load(hashCachePath);
        var hashed = 0;
        long bytes = 0;
        var problems = new System.Collections.Concurrent.ConcurrentBag<(string Path, string Problem)>();
        await Parallel.ForEachAsync(manifest.Model.Files, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Environment.ProcessorCount), CancellationToken = ct },
            async (file, token) =>
            {
                var path = Path.Combine(directory, file.Path);
                if (!File.Exists(path))
                {
                    problems.Add((file.Path, "is missing"));
                    return;
                }
                var id = Posix.Identify(path);
                if (id.Size != file.Size)
                {
                    problems.Add((file.Path, $"is {id.Size} bytes, bento.yaml says {file.Size}"));
                    return;
                }
                var sha = cache.Lookup(path, id);
                if (sha is null)
                {
                    sha = await FileHasher.HashAsync(path, ct: token);
                    Interlocked.Increment(ref hashed);
                    Interlocked.Add(ref bytes, file.Size);
                    if (sha == file.Sha256) cache.Remember(path, id, sha);
                }
                if (sha != file.Sha256) problems.Add((file.Path, $"has sha256 {sha}, bento.yaml says {file.Sha256} (altered, or from another bento)"));
            });
        if (problems.OrderBy(p => p.Path, StringComparer.Ordinal).FirstOrDefault() is { Path: not null } first)
            throw new BentoException($"{variable}: {first.Path} {first.Problem}{(problems.Count > 1 ? $" ({problems.Count - 1} more file(s) wrong)" : "")}; " +
                                     $"refusing to serve {manifest.Tag} with weights it was not built with. Mount the model artifact of this bento " +
                                     $"(bento containerize --weights separate pushes it as TAG-model), or unset {ImageContract.ModelDirectoryVariable}");
        try { await cache.SaveAsync(ct); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"warning: cannot save the model hash cache {hashCachePath} ({e.Message}); the next start hashes the weights again");
        }
        return new Verified(directory, manifest.Model.Files.Count, hashed, bytes);
    }
}
