namespace Bento.Images.Registry.Auth;

/// <summary>
/// A user name and secret for one registry, with where they came from (named in error messages). The secret is never
/// part of <see cref="ToString"/>.
/// </summary>
public sealed class RegistryCredential
{
    /// <summary>What docker's credential helpers return as the user name for an identity (refresh) token.</summary>
    public const string IdentityTokenUser = "<token>";

    public RegistryCredential(string username, string secret, string source)
    {
        Username = username;
        Secret = secret;
        Source = source;
    }

    public string Username { get; }
    public string Secret { get; }

    /// <summary>e.g. "docker config /home/me/.docker/config.json (auths)".</summary>
    public string Source { get; }

    /// <summary>An OAuth2 refresh token (docker's <c>identitytoken</c>) rather than a password.</summary>
    public bool IsIdentityToken => Username == IdentityTokenUser;

    public override string ToString() => $"credentials from {Source}";
}

/// <summary>The outcome of looking for credentials: the credential (or none) and every source consulted, in order.</summary>
public sealed record CredentialLookup(RegistryCredential? Credential, IReadOnlyList<string> Tried)
{
    /// <summary>For error messages: where the credentials came from, or where none were found.</summary>
    public string Describe() => Credential is not null
        ? $"credentials from {Credential.Source}"
        : Tried.Count == 0 ? "no credentials (anonymous)" : $"no credentials (anonymous; looked in {string.Join(", ", Tried)})";
}
