namespace Bento.Cli.Completion;

/// <summary>
/// The scripts <c>bento completion SHELL</c> prints. Each hands the command line up to the cursor to
/// <c>bento __complete --</c> and offers what it prints; the logic stays in one place (<see cref="ShellCompleter"/>).
/// </summary>
public static class CompletionScripts
{
    public static readonly string[] Shells = ["bash", "zsh", "fish"];

    public static string For(string shell) => shell switch
    {
        "bash" => Bash,
        "zsh" => Zsh,
        "fish" => Fish,
        _ => throw new ArgumentOutOfRangeException(nameof(shell), shell, "expected bash, zsh or fish"),
    };

    // COMP_LINE up to COMP_POINT is the line as typed: COMP_WORDS would split tags at ':' (COMP_WORDBREAKS), so the
    // candidates are matched against the whole word, and the part bash already treats as typed (up to ':') is cut off.
    private const string Bash = """
        # bento bash completion: source <(bento completion bash)   (or save it under /etc/bash_completion.d/bento)
        _bento_complete() {
            local line="${COMP_LINE:0:${COMP_POINT:-${#COMP_LINE}}}"
            local word="${line##*[[:space:]]}"
            local prefix=""
            if [[ "$word" == *:* && "${COMP_WORDBREAKS:-:}" == *:* ]]; then prefix="${word%:*}:"; fi
            local IFS=$'\n'
            local candidate
            COMPREPLY=()
            for candidate in $("${COMP_WORDS[0]:-bento}" __complete -- "$line" 2>/dev/null); do
                [[ "$candidate" == "$word"* ]] && COMPREPLY+=("${candidate#"$prefix"}")
            done
        }
        complete -o default -F _bento_complete bento

        """;

    private const string Zsh = """
        #compdef bento
        # bento zsh completion: source <(bento completion zsh)   (or save it as _bento on your $fpath)
        _bento() {
            local line="${(j: :)words[1,CURRENT]}"
            local -a candidates
            candidates=("${(@f)$(${words[1]:-bento} __complete -- "$line" 2>/dev/null)}")
            compadd -Q -- ${candidates:#}
        }
        compdef _bento bento

        """;

    private const string Fish = """
        # bento fish completion: bento completion fish | source   (or save it as ~/.config/fish/completions/bento.fish)
        complete -c bento -f -a '(bento __complete -- (commandline -cp))'

        """;
}
