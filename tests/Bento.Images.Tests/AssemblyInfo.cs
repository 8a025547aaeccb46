// The image tests use Unix file modes and Linux tools (umoci, skopeo, tar, mount, unshare, dockerd).
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
