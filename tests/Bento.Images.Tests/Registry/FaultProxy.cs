using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Bento.Images.Tests.Registry;

/// <summary>What the proxy does to a matching request instead of (or while) forwarding it.</summary>
public enum FaultKind
{
    /// <summary>Answer 500 without forwarding.</summary>
    ServerError,
    /// <summary>Answer 429 with <c>Retry-After</c> without forwarding.</summary>
    TooManyRequests,
    /// <summary>Forward the first <see cref="Fault.CutAfterBytes"/> bytes of the request body, then reset both TCP connections.</summary>
    CutRequestBody,
    /// <summary>Forward, then flip a byte in the response body.</summary>
    CorruptResponse,
    /// <summary>Wait <see cref="Fault.Delay"/> before forwarding (to trip the client's request timeout).</summary>
    Stall,
}

/// <summary>A fault for requests whose method matches and whose path contains <see cref="PathContains"/>, applied <see cref="Times"/> times.</summary>
public sealed class Fault(string method, string pathContains, FaultKind kind, int times = 1)
{
    public string Method { get; } = method;
    public string PathContains { get; } = pathContains;
    public FaultKind Kind { get; } = kind;
    public int RetryAfterSeconds { get; init; } = 1;
    public long CutAfterBytes { get; init; } = 64 * 1024;
    public TimeSpan Delay { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Only requests with at least this many body bytes (Content-Length) match.</summary>
    public long MinBodyBytes { get; init; }

    /// <summary>Only requests whose query string contains this match (e.g. "mount=" for cross-repository mounts).</summary>
    public string? QueryContains { get; init; }

    /// <summary>Matching requests to let through untouched before the fault starts firing.</summary>
    public int Skip { get; init; }

    private int _left = times;
    private int _seen;
    private int _fired;

    /// <summary>How many times it fired.</summary>
    public int Fired => Volatile.Read(ref _fired);

    internal bool TryTake(string method, string path, string query, long contentLength)
    {
        if (!string.Equals(method, Method, StringComparison.OrdinalIgnoreCase)) return false;
        if (!path.Contains(PathContains, StringComparison.Ordinal)) return false;
        if (QueryContains is not null && !query.Contains(QueryContains, StringComparison.Ordinal)) return false;
        if (MinBodyBytes > 0 && contentLength < MinBodyBytes) return false;
        if (Interlocked.Increment(ref _seen) <= Skip) return false;
        if (Interlocked.Decrement(ref _left) < 0) return false;
        Interlocked.Increment(ref _fired);
        return true;
    }
}

/// <summary>
/// A TCP-level HTTP/1.1 proxy in front of a test registry that injects faults: 500s, 429 with Retry-After, a
/// connection reset in the middle of a request body (the registry sees a client that went away after part of a chunk,
/// the client sees its connection reset), corrupted downloads and stalls. Raw sockets rather than HttpListener, whose
/// managed Abort() sends "200 OK" instead of dropping the connection. Start the registry with relative URLs so its
/// Location headers lead back through the proxy.
/// </summary>
public sealed class FaultProxy : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _upstream;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public FaultProxy(string upstreamHost)
    {
        var colon = upstreamHost.LastIndexOf(':');
        _upstream = new IPEndPoint(IPAddress.Parse(upstreamHost[..colon]), int.Parse(upstreamHost[(colon + 1)..]));
        _listener.Start();
        Host = $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";
        _loop = Task.Run(LoopAsync);
    }

    public string Host { get; }

    public ConcurrentQueue<Fault> Faults { get; } = new();

    /// <summary>"METHOD /path -> status" for every request ("500*"/"429*" injected, "cut" reset).</summary>
    public ConcurrentQueue<string> Log { get; } = new();

    public Fault Add(Fault fault)
    {
        Faults.Enqueue(fault);
        return fault;
    }

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try { client = await _listener.AcceptSocketAsync(_stop.Token); }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException) { return; }
            _ = Task.Run(() => ServeConnectionAsync(client));
        }
    }

    private sealed record Head(string StartLine, List<(string Name, string Value)> Headers)
    {
        public string? Get(string name) => Headers.FirstOrDefault(h => h.Name.Equals(name, StringComparison.OrdinalIgnoreCase)).Value;
        public long ContentLength => long.TryParse(Get("Content-Length"), out var n) ? n : 0;
        public bool Chunked => Get("Transfer-Encoding")?.Contains("chunked", StringComparison.OrdinalIgnoreCase) == true;
        public byte[] Bytes() => Encoding.ASCII.GetBytes(StartLine + "\r\n" + string.Concat(Headers.Select(h => $"{h.Name}: {h.Value}\r\n")) + "\r\n");
    }

    private async Task ServeConnectionAsync(Socket clientSocket)
    {
        Socket? upstreamSocket = null;
        try
        {
            using var clientStream = new NetworkStream(clientSocket, ownsSocket: false);
            var clientIn = new BufferedStream(clientStream, 1 << 16);
            BufferedStream? upstreamIn = null;
            NetworkStream? upstreamStream = null;
            while (true)
            {
                var request = await ReadHeadAsync(clientIn);
                if (request is null) return;
                var parts = request.StartLine.Split(' ');
                var (method, target) = (parts[0], parts[1]);
                var path = target.Split('?')[0];
                var query = target.Length > path.Length ? target[(path.Length + 1)..] : "";
                var line = $"{method} {path}" + (query.Contains("mount=", StringComparison.Ordinal) ? "?mount" : "");
                var fault = Faults.FirstOrDefault(f => f.TryTake(method, path, query, request.ContentLength));

                if (fault?.Kind is FaultKind.ServerError or FaultKind.TooManyRequests)
                {
                    await CopyExactlyAsync(clientIn, Stream.Null, request.ContentLength, null);
                    var tooMany = fault.Kind == FaultKind.TooManyRequests;
                    Log.Enqueue(line + (tooMany ? " -> 429*" : " -> 500*"));
                    var body = tooMany
                        ? """{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"""
                        : """{"errors":[{"code":"UNKNOWN","message":"injected failure"}]}""";
                    var reply = $"HTTP/1.1 {(tooMany ? "429 Too Many Requests" : "500 Internal Server Error")}\r\nContent-Type: application/json\r\n" +
                                (tooMany ? $"Retry-After: {fault.RetryAfterSeconds}\r\n" : "") +
                                $"Content-Length: {body.Length}\r\n\r\n{body}";
                    await clientStream.WriteAsync(Encoding.ASCII.GetBytes(reply));
                    continue;
                }
                if (fault?.Kind == FaultKind.Stall) await Task.Delay(fault.Delay);

                if (upstreamSocket is null)
                {
                    upstreamSocket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    await upstreamSocket.ConnectAsync(_upstream);
                    upstreamStream = new NetworkStream(upstreamSocket, ownsSocket: false);
                    upstreamIn = new BufferedStream(upstreamStream, 1 << 16);
                }
                await upstreamStream!.WriteAsync(request.Bytes());
                if (fault?.Kind == FaultKind.CutRequestBody)
                {
                    await CopyExactlyAsync(clientIn, upstreamStream, Math.Min(fault.CutAfterBytes, request.ContentLength), null);
                    await Task.Delay(200); // let the registry read what it got before the reset
                    Log.Enqueue(line + " -> cut");
                    Reset(upstreamSocket);
                    Reset(clientSocket);
                    return;
                }
                await CopyExactlyAsync(clientIn, upstreamStream, request.ContentLength, null);

                var response = await ReadHeadAsync(upstreamIn!) ?? throw new IOException("registry closed the connection");
                var status = int.Parse(response.StartLine.Split(' ')[1]);
                Log.Enqueue($"{line} -> {status}");
                await clientStream.WriteAsync(response.Bytes());
                var corrupt = fault?.Kind == FaultKind.CorruptResponse;
                if (method == "HEAD" || status is 204 or 304 || status < 200) { }
                else if (response.Chunked) await CopyChunkedAsync(upstreamIn!, clientStream);
                else if (response.Get("Content-Length") is not null)
                    await CopyExactlyAsync(upstreamIn!, clientStream, response.ContentLength, corrupt ? response.ContentLength / 2 : null);
                else
                {
                    await upstreamIn!.CopyToAsync(clientStream);
                    return;
                }
                if (string.Equals(request.Get("Connection"), "close", StringComparison.OrdinalIgnoreCase)
                    || string.Equals(response.Get("Connection"), "close", StringComparison.OrdinalIgnoreCase))
                    return;
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or FormatException or IndexOutOfRangeException)
        {
        }
        finally
        {
            upstreamSocket?.Dispose();
            clientSocket.Dispose();
        }
    }

    /// <summary>Closes with an RST, as a dropped connection looks.</summary>
    private static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
            socket.Close();
        }
        catch (SocketException) { }
    }

    private static async Task<Head?> ReadHeadAsync(Stream input)
    {
        var bytes = new List<byte>(512);
        while (true)
        {
            var b = input.ReadByte();
            if (b < 0) return bytes.Count == 0 ? null : throw new IOException("connection closed inside a message head");
            // A TLS ClientHello (the client probing https first): not HTTP, drop the connection as a plain server would.
            if (bytes.Count == 0 && b == 0x16) throw new IOException("TLS handshake on the plain-http proxy");
            bytes.Add((byte)b);
            var n = bytes.Count;
            if (n >= 4 && bytes[n - 4] == '\r' && bytes[n - 3] == '\n' && bytes[n - 2] == '\r' && bytes[n - 1] == '\n') break;
        }
        await Task.CompletedTask;
        var lines = Encoding.ASCII.GetString(bytes.ToArray()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var headers = lines.Skip(1).Select(l =>
        {
            var colon = l.IndexOf(':');
            return (l[..colon].Trim(), l[(colon + 1)..].Trim());
        }).ToList();
        return new Head(lines[0], headers);
    }

    private static async Task CopyExactlyAsync(Stream from, Stream to, long count, long? flipAt)
    {
        var buffer = new byte[1 << 16];
        long done = 0;
        while (done < count)
        {
            var read = await from.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, count - done)));
            if (read == 0) throw new IOException("connection closed inside a body");
            if (flipAt is { } at && at >= done && at < done + read) buffer[at - done] ^= 0xFF;
            await to.WriteAsync(buffer.AsMemory(0, read));
            done += read;
        }
    }

    private static async Task CopyChunkedAsync(Stream from, Stream to)
    {
        while (true)
        {
            var sizeLine = ReadLine(from);
            await to.WriteAsync(Encoding.ASCII.GetBytes(sizeLine + "\r\n"));
            var size = Convert.ToInt64(sizeLine.Split(';')[0].Trim(), 16);
            if (size == 0)
            {
                string trailer;
                do
                {
                    trailer = ReadLine(from);
                    await to.WriteAsync(Encoding.ASCII.GetBytes(trailer + "\r\n"));
                } while (trailer.Length > 0);
                return;
            }
            await CopyExactlyAsync(from, to, size + 2, null); // data and its CRLF
        }
    }

    private static string ReadLine(Stream input)
    {
        var sb = new StringBuilder();
        while (true)
        {
            var b = input.ReadByte();
            if (b < 0) throw new IOException("connection closed inside a chunked body");
            if (b == '\n') return sb.ToString().TrimEnd('\r');
            sb.Append((char)b);
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        try { _loop.Wait(2000); } catch (AggregateException) { }
        _stop.Dispose();
    }
}
