using System.Text.RegularExpressions;
using Bento.Core;

namespace Bento.Deploy;

/// <summary>The name rules the Kubernetes API server applies, checked before anything is generated.</summary>
public static partial class KubernetesNames
{
    [GeneratedRegex("^[a-z]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex Rfc1035Label();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex Rfc1123Label();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex Rfc1123Subdomain();

    [GeneratedRegex("^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")]
    private static partial Regex LabelValueRule();

    /// <summary>A Service name is an RFC 1035 label (the strictest rule of the objects we name after the deployment).</summary>
    public static void RequireObjectName(string name, string what)
    {
        if (name.Length > 63 || !Rfc1035Label().IsMatch(name))
            throw new UsageException($"{what} '{name}' is not a valid Kubernetes name: use at most 63 lowercase letters, digits and '-', starting with a letter and ending with a letter or digit (RFC 1035), e.g. --name my-model");
    }

    public static void RequireNamespace(string name)
    {
        if (name.Length > 63 || !Rfc1123Label().IsMatch(name))
            throw new UsageException($"--namespace '{name}' is not a valid Kubernetes namespace: use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit (RFC 1123)");
    }

    public static void RequireSecretName(string name)
    {
        if (name.Length > 253 || !Rfc1123Subdomain().IsMatch(name))
            throw new UsageException($"--pull-secret '{name}' is not a valid Secret name: use lowercase letters, digits, '-' and '.', at most 253 characters (RFC 1123 subdomain)");
    }

    /// <summary>A Deployment name derived from a bento name: '_' and '.' (allowed in bento names) become '-'.</summary>
    public static string FromBentoName(string bentoName) => bentoName.Replace('_', '-').Replace('.', '-');

    /// <summary>A label value: at most 63 characters of [A-Za-z0-9._-], alphanumeric at both ends; longer ones are cut.</summary>
    public static string LabelValue(string text)
    {
        var value = text.Length > 63 ? text[..63] : text;
        value = value.Trim('-', '_', '.');
        return LabelValueRule().IsMatch(value) ? value : "";
    }
}
