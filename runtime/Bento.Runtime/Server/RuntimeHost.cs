namespace Bento.Runtime.Server;

/// <summary>Starts the runtime for a bento directory. (Filled in as the server lands.)</summary>
public static class RuntimeHost
{
    public static Task<int> RunAsync(string[] args)
    {
        Console.Error.WriteLine("bento-runtime: the server is not assembled yet");
        return Task.FromResult(1);
    }
}
