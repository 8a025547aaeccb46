using System.Text;
using System.Collections.Concurrent;
using System.Text.Json;

namespace Bento.Runtime.Tokenization;

/// <summary>
/// A Hugging Face fast tokenizer (tokenizer.json) for Llama-family models, with the special tokens, stop
/// ids and chat templates from the files next to it. Encoding follows the tokenizers library's order:
/// split out added tokens, normalise, pre-tokenise, BPE each piece, then post-process.
/// </summary>
/// <remarks>Thread-safe: all state is read-only after loading except a concurrent BPE cache.</remarks>
public sealed class HfTokenizer : ITextTokenizer
{
    private readonly BpeModel _model;
    private readonly Dictionary<int, AddedToken> _addedById;
    private readonly Dictionary<string, int> _addedByContent;
    /// <summary>Added tokens with normalized=false, matched in the raw input.</summary>
    private readonly AddedTokenMatcher _rawTokenMatcher;
    /// <summary>Added tokens with normalized=true, matched in each normalised run.</summary>
    private readonly AddedTokenMatcher _normalizedTokenMatcher;
    private readonly TextNormalizer? _normalizer;
    private readonly PreTokenizer? _preTokenizer;
    private readonly PostProcessor? _postProcessor;
    private readonly TokenDecoder? _decoder;
    private readonly ConcurrentDictionary<string, ChatTemplate> _compiledTemplates = new(StringComparer.Ordinal);

    private HfTokenizer(JsonElement root, TokenizerSettings settings)
    {
        if (root.Field("model") is not { } model)
            throw new TokenizerFormatException("tokenizer.json: the model section is missing");
        _model = BpeModel.FromJson(model);
        _normalizer = TextNormalizer.FromJson(root.Field("normalizer"));
        _preTokenizer = PreTokenizer.FromJson(root.Field("pre_tokenizer"));
        _decoder = TokenDecoder.FromJson(root.Field("decoder"));

        _addedById = new Dictionary<int, AddedToken>();
        foreach (var item in root.ArrayField("added_tokens"))
        {
            var token = ReadAddedToken(item);
            _addedById[token.Id] = token;
        }
        // transformers also registers tokens that only tokenizer_config.json lists.
        foreach (var token in settings.ConfigAddedTokens)
            _addedById.TryAdd(token.Id, token);
        _addedByContent = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var token in _addedById.Values.OrderBy(token => token.Id))
            _addedByContent.TryAdd(token.Content, token.Id);

        _rawTokenMatcher = new AddedTokenMatcher(_addedById.Values.Where(token => !token.Normalized), token => token.Content);
        _normalizedTokenMatcher = new AddedTokenMatcher(_addedById.Values.Where(token => token.Normalized),
            token => _normalizer?.Normalize(token.Content) ?? token.Content);

        VocabSize = Math.Max(_model.IdLimit, _addedById.Count == 0 ? 0 : _addedById.Keys.Max() + 1);
        // Stored token strings are never shorter in UTF-8 than the text bytes they stand for (byte-level symbols and
        // SentencePiece's ▁ take as many bytes or more), so this bounds the bytes one token can cover.
        var longest = _addedById.Values.Select(t => Encoding.UTF8.GetByteCount(t.Content)).DefaultIfEmpty(1).Max();
        for (var id = 0; id < _model.IdLimit; id++)
            if (_model.IdToToken(id) is { } t) longest = Math.Max(longest, Encoding.UTF8.GetByteCount(t));
        MaxTokenBytes = Math.Max(1, longest);

        BosToken = settings.BosToken;
        EosToken = settings.EosToken;
        BosTokenId = (BosToken is null ? null : TokenToId(BosToken)) ?? settings.GenerationBosTokenId;
        EosTokenId = EosToken is null ? null : TokenToId(EosToken);
        var stops = new HashSet<int>(settings.GenerationEosTokenIds);
        if (EosTokenId is { } eos)
            stops.Add(eos);
        StopTokenIds = stops;
        ChatTemplates = settings.ChatTemplates;

        _postProcessor = ChoosePostProcessor(root, settings);
    }

    /// <summary>Loads tokenizer.json and the optional tokenizer_config.json, generation_config.json,
    /// special_tokens_map.json, chat_template.jinja and chat_template.json from a model folder.</summary>
    /// <exception cref="TokenizerFormatException">No tokenizer.json, or one we cannot use.</exception>
    public static HfTokenizer Load(string directory)
    {
        var tokenizerPath = Path.Combine(directory, "tokenizer.json");
        if (!File.Exists(tokenizerPath))
            throw new TokenizerFormatException($"{directory} has no tokenizer.json (only Hugging Face fast tokenizers are supported)");
        return FromJson(
            File.ReadAllText(tokenizerPath),
            ReadOptional(directory, "tokenizer_config.json"),
            ReadOptional(directory, "generation_config.json"),
            ReadOptional(directory, "special_tokens_map.json"),
            ReadOptional(directory, "chat_template.jinja"),
            ReadOptional(directory, "chat_template.json"));
    }

    /// <summary>Builds a tokenizer from file contents (null for a file that is absent).</summary>
    public static HfTokenizer FromJson(string tokenizerJson, string? tokenizerConfigJson = null, string? generationConfigJson = null,
        string? specialTokensMapJson = null, string? chatTemplateJinja = null, string? chatTemplateJson = null)
    {
        var settings = TokenizerSettings.Parse(tokenizerConfigJson, generationConfigJson, specialTokensMapJson, chatTemplateJinja, chatTemplateJson);
        try
        {
            using var document = JsonDocument.Parse(tokenizerJson);
            return new HfTokenizer(document.RootElement, settings);
        }
        catch (JsonException e)
        {
            throw new TokenizerFormatException($"tokenizer.json: not valid JSON: {e.Message}", e);
        }
    }

    public int VocabSize { get; }

    public int MaxTokenBytes { get; }

    public int? BosTokenId { get; }

    /// <summary>Id of the eos_token named in tokenizer_config.json / special_tokens_map.json.</summary>
    public int? EosTokenId { get; }

    public IReadOnlySet<int> StopTokenIds { get; }

    /// <summary>bos_token's text, which chat templates receive as <c>bos_token</c>.</summary>
    public string? BosToken { get; }

    /// <summary>eos_token's text, which chat templates receive as <c>eos_token</c>.</summary>
    public string? EosToken { get; }

    /// <summary>Chat template sources by name ("default" for a template given as a single string).</summary>
    public IReadOnlyDictionary<string, string> ChatTemplates { get; }

    /// <summary>The compiled chat template <paramref name="name"/> ("default" when null), or null when the
    /// model has none by that name.</summary>
    /// <exception cref="TemplateException">The template does not parse.</exception>
    public ChatTemplate? GetChatTemplate(string? name = null)
    {
        name ??= TokenizerSettings.DefaultTemplateName;
        if (!ChatTemplates.TryGetValue(name, out var source))
            return null;
        return _compiledTemplates.GetOrAdd(name, static (key, text) => ChatTemplate.Compile(text, key == TokenizerSettings.DefaultTemplateName ? "chat_template" : $"chat_template '{key}'"), source);
    }

    public IReadOnlyList<int> Encode(string text, bool addSpecialTokens) => Encode(text, addSpecialTokens, int.MaxValue);

    public IReadOnlyList<int> Encode(string text, bool addSpecialTokens, int stopAfter)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 4);
        var segments = new List<TextSegment>();
        _rawTokenMatcher.Split(text, textStartsInput: true, segments);

        var normalizedSegments = new List<TextSegment>();
        var pieces = new List<string>();
        foreach (var segment in segments)
        {
            if (ids.Count > stopAfter) return ids;
            if (segment.Token is { } token)
            {
                ids.Add(token.Id);
                continue;
            }
            var normalized = _normalizer?.Normalize(segment.Text) ?? segment.Text;
            normalizedSegments.Clear();
            if (_normalizedTokenMatcher.IsEmpty)
                normalizedSegments.Add(segment with { Text = normalized });
            else
                _normalizedTokenMatcher.Split(normalized, segment.AtInputStart, normalizedSegments);

            foreach (var run in normalizedSegments)
            {
                if (run.Token is { } normalizedToken)
                {
                    ids.Add(normalizedToken.Id);
                    continue;
                }
                pieces.Clear();
                if (_preTokenizer is null)
                    pieces.Add(run.Text);
                else
                    _preTokenizer.Split(run.Text, run.AtInputStart, pieces);
                foreach (var piece in pieces)
                {
                    if (ids.Count > stopAfter) return ids;
                    _model.Encode(piece, ids);
                }
            }
        }
        return addSpecialTokens && _postProcessor is not null ? _postProcessor.Process(ids) : ids;
    }

    public string Decode(IReadOnlyList<int> ids, bool skipSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var tokens = new List<string>(ids.Count);
        foreach (var id in ids)
        {
            if (_addedById.TryGetValue(id, out var added))
            {
                if (!(skipSpecialTokens && added.Special))
                    tokens.Add(added.Content);
            }
            else if (_model.IdToToken(id) is { } token)
            {
                tokens.Add(token);
            }
            // Ids beyond the vocabulary (a model's padded embedding rows) are skipped, as the reference does.
        }
        if (tokens.Count == 0)
            return "";
        return _decoder is null ? string.Join(' ', tokens) : string.Concat(_decoder.DecodeChain(tokens));
    }

    public string? TokenText(int id) => IdToToken(id);

    public byte[]? TokenBytes(int id)
    {
        if (IsSpecial(id) || IdToToken(id) is not { } token) return null;
        return _decoder is null ? Encoding.UTF8.GetBytes(token) : _decoder.TokenBytes(token);
    }

    public bool IsSpecial(int id) => _addedById.TryGetValue(id, out var token) && token.Special;

    /// <summary>Id of a token given by its text (added tokens first, then the vocabulary), or null.</summary>
    public int? TokenToId(string token) =>
        _addedByContent.TryGetValue(token, out var id) ? id : _model.TokenToId(token);

    /// <summary>Text of a token as stored (byte-level symbols for BPE tokens), or null for an unused id.</summary>
    public string? IdToToken(int id) =>
        _addedById.TryGetValue(id, out var token) ? token.Content : _model.IdToToken(id);

    /// <summary>transformers rebuilds the post-processor of Llama-class tokenizers (Llama 2, Mistral,
    /// TinyLlama) from add_bos_token / add_eos_token, ignoring the one in tokenizer.json; other classes
    /// (Llama 3's PreTrainedTokenizerFast) use tokenizer.json's.</summary>
    private PostProcessor? ChoosePostProcessor(JsonElement root, TokenizerSettings settings)
    {
        var llamaClass = settings.TokenizerClass is "LlamaTokenizer" or "LlamaTokenizerFast" or "CodeLlamaTokenizer" or "CodeLlamaTokenizerFast";
        var fromJson = PostProcessor.FromJson(root.Field("post_processor"));
        if (!llamaClass && (fromJson is not null || settings.AddBosToken is not true))
            return fromJson;

        var addBos = settings.AddBosToken ?? llamaClass;
        var addEos = settings.AddEosToken ?? false;
        var pieces = new List<TemplateProcessor.Piece>();
        if (addBos && BosToken is not null && TokenToId(BosToken) is { } bos)
            pieces.Add(TemplateProcessor.Piece.Ids([bos]));
        pieces.Add(TemplateProcessor.Piece.Sequence);
        if (addEos && EosTokenId is { } eos)
            pieces.Add(TemplateProcessor.Piece.Ids([eos]));
        return new TemplateProcessor(pieces);
    }

    private static AddedToken ReadAddedToken(JsonElement item)
    {
        if (item.Field("id") is not { ValueKind: JsonValueKind.Number } idJson || !idJson.TryGetInt32(out var id) || item.StringField("content") is not { } content)
            throw new TokenizerFormatException($"tokenizer.json: added token {item.GetRawText()} needs an id and a content");
        var special = item.BoolField("special", false);
        return new AddedToken(id, content, special,
            SingleWord: item.BoolField("single_word", false),
            LStrip: item.BoolField("lstrip", false),
            RStrip: item.BoolField("rstrip", false),
            Normalized: item.BoolField("normalized", !special));
    }

    private static string? ReadOptional(string directory, string file)
    {
        var path = Path.Combine(directory, file);
        return File.Exists(path) ? File.ReadAllText(path) : null;
    }
}
