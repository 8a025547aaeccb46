using Microsoft.AspNetCore.Builder;
using System.Net;
using Bento.Runtime.Server;
using Bento.Runtime.Settings;

namespace Bento.Runtime.Tests.Server;

/// <summary>
/// The real runtime serving the bundled example bento (or a given project folder) on a free loopback port: built into a temp store with the
/// real builder, settings resolved by the real resolver, the real model and engine behind Kestrel.
/// </summary>
public sealed class RunningServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _home;

    private RunningServer(WebApplication app, string home, int port, string bentoDirectory) => (_app, _home, Port, BentoDirectory) = (app, home, port, bentoDirectory);

    public int Port { get; }

    /// <summary>The served bento's directory in the test store.</summary>
    public string BentoDirectory { get; }
    public Uri BaseUri => new($"http://127.0.0.1:{Port}");
    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(60) };

    public static async Task<RunningServer> StartAsync(IReadOnlyDictionary<string, string>? environment = null, CliOverrides? cli = null, int maxWaiting = 256, string? bentofile = null, bool waitUntilReady = true,
        string? projectDirectory = null)
    {
        var home = Path.Combine(Path.GetTempPath(), "bento-server-test-" + Guid.NewGuid().ToString("N")[..8]);
        var (_, bento) = await ExampleBento.BuildAsync(home, bentofile, projectDirectory);

        var port = FreeTcpPort.Pick();
        var settings = SettingsResolver.Resolve(bento.Manifest, environment ?? new Dictionary<string, string>(), (cli ?? CliOverrides.None).With(SettingName.Port, port).With(SettingName.Host, "127.0.0.1"));
        var app = RuntimeHost.Build(bento.Manifest, bento.Directory, settings, maxWaiting);
        await app.StartAsync();
        var server = new RunningServer(app, home, port, bento.Directory);
        if (waitUntilReady) await server.WaitReadyAsync();
        return server;
    }

    private async Task WaitReadyAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if ((await Http.GetAsync(new Uri(BaseUri, "/ready"))).StatusCode == HttpStatusCode.OK) return;
            }
            catch (HttpRequestException) { }
            await Task.Delay(100);
        }
        var health = await Http.GetStringAsync(new Uri(BaseUri, "/health"));
        throw new TimeoutException($"the server did not become ready: {health}");
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        try { Directory.Delete(_home, true); } catch (IOException) { }
    }
}

/// <summary>One server for the tests that do not need their own settings.</summary>
public sealed class SharedServer : IAsyncLifetime
{
    public RunningServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await RunningServer.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

[CollectionDefinition("server")]
public sealed class ServerCollection : ICollectionFixture<SharedServer>;
