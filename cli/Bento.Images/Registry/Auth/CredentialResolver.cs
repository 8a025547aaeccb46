namespace Bento.Images.Registry.Auth;

/// <summary>
/// Finds credentials for a registry, first match wins:
/// <list type="number">
///   <item>bento's own file (<c>bento login</c>): <c>$BENTO_HOME/auth.json</c></item>
///   <item>docker config <c>credHelpers[REGISTRY]</c>: <c>docker-credential-NAME get</c></item>
///   <item>docker config <c>credsStore</c>: the same for every registry</item>
///   <item>docker config <c>auths[REGISTRY]</c>: base64 <c>auth</c>, <c>username</c>/<c>password</c> or <c>identitytoken</c></item>
/// </list>
/// The docker config is <c>$DOCKER_CONFIG/config.json</c>, else <c>~/.docker/config.json</c>. Docker Hub matches the
/// keys <c>https://index.docker.io/v1/</c>, <c>docker.io</c>, <c>index.docker.io</c> and <c>registry-1.docker.io</c>.
/// </summary>
public sealed class CredentialResolver(CredentialOptions options)
{
    public CredentialLookup Resolve(string registry)
    {
        var tried = new List<string>();
        if (options.Anonymous) return new CredentialLookup(null, tried);

        var bentoPath = options.BentoAuthPath ?? BentoCredentialStore.DefaultPath();
        var bentoSource = $"bento login file {bentoPath}";
        tried.Add(bentoSource);
        var bento = DockerConfig.Load(bentoPath);
        if (bento?.InlineCredential(registry, bentoSource) is { } fromBento) return new CredentialLookup(fromBento, tried);

        var dockerPath = options.DockerConfigPath ?? DockerConfig.DefaultPath();
        var docker = DockerConfig.Load(dockerPath);
        if (docker is null)
        {
            tried.Add($"docker config {dockerPath} (absent)");
            return new CredentialLookup(null, tried);
        }
        if (docker.HelperFor(registry) is { } helper)
        {
            var source = $"docker config {dockerPath} (credHelpers: docker-credential-{helper})";
            tried.Add(source);
            if (CredentialHelper.Get(helper, registry, options.HelperSearchPath, options.HelperTimeout, source) is { } c)
                return new CredentialLookup(c, tried);
        }
        else if (docker.CredsStore is { } store)
        {
            var source = $"docker config {dockerPath} (credsStore: docker-credential-{store})";
            tried.Add(source);
            if (CredentialHelper.Get(store, registry, options.HelperSearchPath, options.HelperTimeout, source) is { } c)
                return new CredentialLookup(c, tried);
        }
        var inlineSource = $"docker config {dockerPath} (auths)";
        tried.Add(inlineSource);
        return new CredentialLookup(docker.InlineCredential(registry, inlineSource), tried);
    }
}
