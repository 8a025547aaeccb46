#:project ../cli/Bento.Images/Bento.Images.csproj
// The push benchmark's driver (run by bench/push-bench.sh; a .NET 10 file-based program, not part of the solution).
//   dotnet run bench/push-bench.cs -- layout DIR WEIGHT_MIB [LAYERS]   write an OCI layout: config, a small gzip layer,
//                                                                     and WEIGHT_MIB of random (incompressible)
//                                                                     uncompressed tar layers, like model weights
//   dotnet run bench/push-bench.cs -- push DIR REF [chunked|monolithic|auto]
//                                                                     push the layout's image with Bento.Images'
//                                                                     RegistryClient (REF's registry is insecure)
// Prints one line: "push seconds=... bytes_sent=... requests=... uploaded=... skipped=... mounted=... chunks=...".
using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Bento.Images.Oci;
using Bento.Images.Registry;

return args switch
{
    ["layout", var dir, var mib, ..] => WriteLayout(dir, long.Parse(mib), args.Length > 3 ? int.Parse(args[3]) : 4),
    ["push", var dir, var reference, ..] => await Push(dir, ImageReference.Parse(reference), args.Length > 3 ? args[3] : "auto"),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: push-bench.cs layout DIR WEIGHT_MIB [LAYERS] | push DIR REF [chunked|monolithic|auto]");
    return 2;
}

static int WriteLayout(string dir, long weightMib, int layerCount)
{
    var blobs = Path.Combine(dir, "blobs", "sha256");
    Directory.CreateDirectory(blobs);
    var layers = new List<(string MediaType, string Digest, long Size, string DiffId)>();

    // A small gzip layer (the "app"), then the weights: uncompressed tars of random bytes, as bento images store them.
    var app = TarOf([("app/README", Encoding.UTF8.GetBytes("push benchmark\n"))]);
    var gz = new MemoryStream();
    using (var z = new GZipStream(gz, CompressionLevel.Optimal, leaveOpen: true)) z.Write(app);
    layers.Add((MediaTypes.OciLayerGzip, WriteBlob(blobs, gz.ToArray()), gz.Length, Sha(app)));

    var perLayer = weightMib * 1024 * 1024 / layerCount;
    var random = new Random(42);
    for (var i = 0; i < layerCount; i++)
    {
        var temp = Path.Combine(dir, $"layer{i}.tmp");
        using (var file = File.Create(temp))
        using (var tar = new TarWriter(file, TarEntryFormat.Pax, leaveOpen: true))
        {
            var data = Path.Combine(dir, $"weights{i}.tmp");
            using (var w = File.Create(data))
            {
                var buffer = new byte[1 << 20];
                for (long left = perLayer; left > 0; left -= buffer.Length)
                {
                    random.NextBytes(buffer);
                    w.Write(buffer, 0, (int)Math.Min(buffer.Length, left));
                }
            }
            tar.WriteEntry(data, $"model/model-{i:D5}.safetensors");
            File.Delete(data);
        }
        string digest;
        using (var f = File.OpenRead(temp)) digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(f));
        File.Move(temp, Path.Combine(blobs, digest[7..]), overwrite: true);
        layers.Add((MediaTypes.OciLayer, digest, new FileInfo(Path.Combine(blobs, digest[7..])).Length, digest));
    }

    var config = new JsonObject
    {
        ["architecture"] = "amd64", ["os"] = "linux",
        ["config"] = new JsonObject { ["Cmd"] = new JsonArray("/bin/true") },
        ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray(layers.Select(l => (JsonNode)l.DiffId).ToArray()) },
    };
    var configBytes = Encoding.UTF8.GetBytes(config.ToJsonString());
    var manifest = new JsonObject
    {
        ["schemaVersion"] = 2, ["mediaType"] = MediaTypes.OciManifest,
        ["config"] = new JsonObject { ["mediaType"] = MediaTypes.OciConfig, ["digest"] = WriteBlob(blobs, configBytes), ["size"] = configBytes.Length },
        ["layers"] = new JsonArray(layers.Select(l => (JsonNode)new JsonObject { ["mediaType"] = l.MediaType, ["digest"] = l.Digest, ["size"] = l.Size }).ToArray()),
    };
    var manifestBytes = Encoding.UTF8.GetBytes(manifest.ToJsonString());
    var index = new JsonObject
    {
        ["schemaVersion"] = 2, ["mediaType"] = MediaTypes.OciIndex,
        ["manifests"] = new JsonArray(new JsonObject
        {
            ["mediaType"] = MediaTypes.OciManifest, ["digest"] = WriteBlob(blobs, manifestBytes), ["size"] = manifestBytes.Length,
            ["annotations"] = new JsonObject { ["org.opencontainers.image.ref.name"] = "bench" },
        }),
    };
    File.WriteAllText(Path.Combine(dir, "index.json"), index.ToJsonString());
    File.WriteAllText(Path.Combine(dir, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""");
    Console.WriteLine($"layout {dir}: {layers.Count} layers, {layers.Sum(l => l.Size) / (1024.0 * 1024):F0} MiB");
    return 0;
}

static async Task<int> Push(string dir, ImageReference reference, string mode)
{
    var image = ReadLayout(dir);
    var options = new RegistryOptions
    {
        Insecure = [reference.Registry],
        Credentials = new CredentialOptions { Anonymous = true },
        Upload = new UploadOptions { Mode = mode switch { "chunked" => UploadMode.Chunked, "monolithic" => UploadMode.Monolithic, _ => UploadMode.Auto } },
    };
    using var client = new RegistryClient(options);
    var watch = Stopwatch.StartNew();
    var result = await client.PushAsync(image, [reference], null, CancellationToken.None);
    var t = result.Transfer;
    Console.WriteLine($"push seconds={watch.Elapsed.TotalSeconds:F2} bytes_sent={t.BytesSent} requests={t.Requests} uploaded={t.BlobsUploaded} " +
                      $"skipped={t.BlobsSkipped} mounted={t.BlobsMounted} chunks={t.ChunksSent} digest={result.Digest}");
    return 0;
}

static Image ReadLayout(string dir)
{
    string Blob(string digest) => Path.Combine(dir, "blobs", "sha256", digest[7..]);
    using var index = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "index.json")));
    var entry = index.RootElement.GetProperty("manifests")[0];
    var manifestDigest = entry.GetProperty("digest").GetString()!;
    var manifestBytes = File.ReadAllBytes(Blob(manifestDigest));
    using var manifest = JsonDocument.Parse(manifestBytes);
    var configDescriptor = Read(manifest.RootElement.GetProperty("config"));
    var configBytes = File.ReadAllBytes(Blob(configDescriptor.Digest));
    using var config = JsonDocument.Parse(configBytes);
    var diffIds = config.RootElement.GetProperty("rootfs").GetProperty("diff_ids").EnumerateArray().Select(d => d.GetString()!).ToList();
    var layers = manifest.RootElement.GetProperty("layers").EnumerateArray().Select(Read)
        .Select((d, i) => new Layer(new FileBlob(d, Blob(d.Digest)), diffIds[i])).ToList();
    return new Image(new Descriptor(MediaTypes.OciManifest, manifestDigest, manifestBytes.Length), manifestBytes, configDescriptor, configBytes, layers);

    static Descriptor Read(JsonElement e) => new(e.GetProperty("mediaType").GetString()!, e.GetProperty("digest").GetString()!, e.GetProperty("size").GetInt64());
}

static string WriteBlob(string blobs, byte[] bytes)
{
    var digest = Sha(bytes);
    File.WriteAllBytes(Path.Combine(blobs, digest[7..]), bytes);
    return digest;
}

static string Sha(byte[] bytes) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));

static byte[] TarOf(IEnumerable<(string Path, byte[] Content)> files)
{
    var m = new MemoryStream();
    using (var tar = new TarWriter(m, TarEntryFormat.Pax, leaveOpen: true))
        foreach (var (path, content) in files)
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, path) { DataStream = new MemoryStream(content), ModificationTime = DateTimeOffset.UnixEpoch });
    return m.ToArray();
}

sealed class FileBlob(Descriptor descriptor, string path) : IBlob
{
    public Descriptor Descriptor { get; } = descriptor;
    public Task<Stream> OpenReadAsync(CancellationToken ct) =>
        Task.FromResult<Stream>(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan));
}
