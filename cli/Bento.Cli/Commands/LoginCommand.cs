using System.CommandLine;
using System.Text;
using Bento.Core;
using Bento.Images.Registry;
using Bento.Images.Registry.Auth;

namespace Bento.Cli.Commands;

/// <summary>
/// <c>bento login REGISTRY -u USER [--password-stdin] [--insecure]</c>: checks the credentials against the registry,
/// then saves them to <c>$BENTO_HOME/auth.json</c> (mode 0600), which is consulted before docker's config.json.
/// </summary>
public static class LoginCommand
{
    public static Command Create()
    {
        var registry = new Argument<string>("REGISTRY") { Description = "Registry host[:port] (docker.io, ghcr.io, localhost:5000)" };
        var user = new Option<string?>("--username", "-u") { Description = "User name (asked for when omitted on a terminal)" };
        var passwordStdin = new Option<bool>("--password-stdin") { Description = "Read the password or token from stdin" };
        var insecure = new Option<bool>("--insecure") { Description = "Allow plain http or an untrusted TLS certificate for this registry" };
        var command = new Command("login", "Log in to a container registry (credentials saved for bento push and bento containerize --push)") { registry, user, passwordStdin, insecure };
        command.SetGuardedAction(async (parse, ct) =>
        {
            var host = Registry(parse.GetValue(registry)!);
            var name = parse.GetValue(user);
            if (string.IsNullOrEmpty(name))
            {
                if (Console.IsInputRedirected) throw new UsageException("no user name: pass -u USER");
                Console.Error.Write("Username: ");
                name = Console.ReadLine()?.Trim();
                if (string.IsNullOrEmpty(name)) throw new UsageException("no user name given");
            }
            string secret;
            if (parse.GetValue(passwordStdin))
                secret = (await Console.In.ReadToEndAsync(ct)).TrimEnd('\r', '\n');
            else if (Console.IsInputRedirected)
                throw new UsageException("no password: pipe it in with --password-stdin");
            else
                secret = ReadHidden("Password: ");
            if (secret.Length == 0) throw new UsageException("the password is empty");

            using var client = new RegistryClient(new RegistryOptions
            {
                Insecure = parse.GetValue(insecure) ? [host] : [],
                Credentials = new CredentialOptions { Anonymous = true },
            });
            await client.VerifyCredentialsAsync(host, name, secret, ct);
            var store = new BentoCredentialStore();
            store.Save(host, name, secret);
            Console.Error.WriteLine($"Login succeeded for {host}; credentials saved to {store.Path} (readable only by you)");
            return 0;
        });
        return command;
    }

    internal static string Registry(string text) =>
        ImageReference.NormalizeRegistry(text) ?? throw new UsageException($"invalid registry '{text}': expected HOST[:PORT] (docker.io, ghcr.io, localhost:5000)");

    private static string ReadHidden(string prompt)
    {
        Console.Error.Write(prompt);
        var text = new StringBuilder();
        while (true)
        {
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter) break;
            if (key.Key == ConsoleKey.Backspace) { if (text.Length > 0) text.Length--; }
            else if (!char.IsControl(key.KeyChar)) text.Append(key.KeyChar);
        }
        Console.Error.WriteLine();
        return text.ToString();
    }
}

/// <summary><c>bento logout REGISTRY</c>: removes what <c>bento login</c> saved (docker's own config is left alone).</summary>
public static class LogoutCommand
{
    public static Command Create()
    {
        var registry = new Argument<string>("REGISTRY") { Description = "Registry host[:port]" };
        var command = new Command("logout", "Remove the credentials bento login saved for a registry") { registry };
        command.SetGuardedAction((parse, _) =>
        {
            var host = LoginCommand.Registry(parse.GetValue(registry)!);
            var store = new BentoCredentialStore();
            Console.Error.WriteLine(store.Remove(host) ? $"Removed the credentials for {host} from {store.Path}" : $"No credentials for {host} in {store.Path}");
            return Task.FromResult(0);
        });
        return command;
    }
}
