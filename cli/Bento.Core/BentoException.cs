namespace Bento.Core;

/// <summary>
/// An error the user can act on. The CLI prints only its message (one line, no stack trace) and exits with
/// <see cref="ExitCode"/>; anything else that escapes is a bug and is reported as such.
/// </summary>
public class BentoException : Exception
{
    public BentoException(string message, Exception? inner = null) : base(message, inner) { }

    public virtual int ExitCode => 1;
}

/// <summary>The command line itself is wrong (unknown option, bad tag syntax): exit code 2, like other Unix tools.</summary>
public sealed class UsageException : BentoException
{
    public UsageException(string message) : base(message) { }

    public override int ExitCode => 2;
}
