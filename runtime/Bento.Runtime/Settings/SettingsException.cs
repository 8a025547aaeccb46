namespace Bento.Runtime.Settings;

/// <summary>
/// A setting that must stop start-up: a value that does not parse, is out of range, or tries to change a setting the
/// bento's builder locked. The message is meant for the operator as-is: it names the variable or flag, the bad value
/// and what would be accepted.
/// </summary>
public sealed class SettingsException(string message) : Exception(message);
