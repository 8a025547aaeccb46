// The end-to-end tests drive a bash launcher and use Linux tools (mount, runuser) and Unix file modes.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
