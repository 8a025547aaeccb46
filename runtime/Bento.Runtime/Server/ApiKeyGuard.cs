using System.Security.Cryptography;
using System.Text;

namespace Bento.Runtime.Server;

/// <summary>
/// Checks <c>Authorization: Bearer KEY</c> in constant time. Both sides are hashed first, so the comparison takes the
/// same time whatever the header's length or how many leading bytes match; the key itself is not kept.
/// </summary>
public sealed class ApiKeyGuard
{
    private readonly byte[] _expected;

    public ApiKeyGuard(string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        _expected = SHA256.HashData(Encoding.UTF8.GetBytes("Bearer " + key));
    }

    public bool Allows(string authorizationHeader) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(authorizationHeader)), _expected);

    public override string ToString() => "ApiKeyGuard (key set)";
}
