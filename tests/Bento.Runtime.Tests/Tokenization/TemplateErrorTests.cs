using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Tests.Tokenization;

/// <summary>Broken templates fail with the template line, at compile time where Jinja would.</summary>
public sealed class TemplateErrorTests
{
    [Theory]
    [InlineData("line one\nline two\n{% if %}\n{% endif %}", 3, "expected an expression")]
    [InlineData("{% for m in messages %}\n{{ m.content }}\n", 1, "'for' is never closed (expected 'else' or 'endfor')")]
    [InlineData("{{ x }}\n{{ x | frobnicate }}", 2, "unknown filter 'frobnicate'")]
    [InlineData("\n\n{{ x is frobnicated }}", 3, "unknown test 'frobnicated'")]
    [InlineData("ok\n{% endif %}", 2, "unexpected tag 'endif'")]
    [InlineData("{% for x in y %}\n  {% endif %}\n{% endfor %}", 2, "unexpected tag 'endif' inside 'for' opened at line 1")]
    [InlineData("{% include 'other.jinja' %}", 1, "the 'include' tag is not supported")]
    [InlineData("{% frobnicate %}", 1, "unknown tag 'frobnicate'")]
    [InlineData("a\n{{ 'unterminated }}", 2, "the tag opened here is never closed")]
    [InlineData("{{ 'a' ~ }}", 1, "expected an expression but found end of tag")]
    [InlineData("{{ x y }}", 1, "unexpected 'y'")]
    [InlineData("{% break %}", 1, "'break' outside of a for loop")]
    [InlineData("{% set ns.a.b = 1 %}", 1, "expected '=' but found '.'")]
    [InlineData("{{ 'a' @ 'b' }}", 1, "unexpected character '@'")]
    [InlineData("{{ f(a=1, 2) }}", 1, "positional argument follows keyword argument")]
    public void SyntaxErrorsNameTheLine(string source, int line, string detail)
    {
        var error = Assert.Throws<TemplateException>(() => ChatTemplate.Compile(source));
        Assert.Equal(line, error.Line);
        Assert.Contains(detail, error.Detail);
        Assert.StartsWith($"chat_template line {line}: ", error.Message);
        Assert.False(error.RaisedByTemplate);
    }

    [Theory]
    [InlineData("a\n\n{{ 1 + 'x' }}", 3, "unsupported operand type(s) for +: 'int' and 'str'")]
    [InlineData("{{ foo.bar }}", 1, "'foo' is undefined")]
    [InlineData("{% for m in messages %}\n{{ m.missing.deeper }}\n{% endfor %}", 2, "'dict object' has no attribute 'missing'")]
    [InlineData("{% set x = 5 %}\n{% for c in x %}{% endfor %}", 2, "'int' object is not iterable")]
    [InlineData("{{ 1 // 0 }}", 1, "integer division or modulo by zero")]
    [InlineData("{% set n = 3 %}{% set n.attr = 1 %}", 1, "cannot assign attribute 'attr' on 'n': only namespace() objects take attribute assignments")]
    [InlineData("{{ 'abc' < 1 }}", 1, "'<' not supported between instances of 'str' and 'int'")]
    [InlineData("{{ messages(1) }}", 1, "'list' object is not callable")]
    [InlineData("\n{{ messages[0] | tojson }}{{ raise_exception | tojson }}", 2, "Object of type function is not JSON serializable")]
    public void RenderErrorsNameTheLine(string source, int line, string detail)
    {
        var template = ChatTemplate.Compile(source, "my_template");
        var error = Assert.Throws<TemplateException>(() => template.Render([new ChatMessage("user", "hi")], addGenerationPrompt: false));
        Assert.Equal(line, error.Line);
        Assert.Equal(detail, error.Detail);
        Assert.Equal($"my_template line {line}: {detail}", error.Message);
    }

    [Fact]
    public void RaiseExceptionKeepsTheTemplatesMessageVerbatim()
    {
        var template = ChatTemplate.Compile("{% if messages | length > 1 %}\n{{ raise_exception('Only one message, please.') }}\n{% endif %}");
        var error = Assert.Throws<TemplateException>(() => template.Render(
            [new ChatMessage("user", "a"), new ChatMessage("user", "b")], addGenerationPrompt: false));
        Assert.Equal("Only one message, please.", error.Message);
        Assert.True(error.RaisedByTemplate);
        Assert.Equal(2, error.Line);
    }
}
