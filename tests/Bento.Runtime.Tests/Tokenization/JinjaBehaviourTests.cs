using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Tests.Tokenization;

/// <summary>
/// The Jinja subset chat templates use, one behaviour family per case. Expected outputs are what Python's
/// Jinja prints when configured as transformers configures it (trim_blocks, lstrip_blocks, loop controls,
/// transformers' tojson), including its less obvious rules: <c>~</c> binds tighter than <c>+</c>, a
/// unary minus applies before <c>**</c>, a <c>set</c> inside a loop does not outlive the iteration, filters
/// such as selectattr return generators that are always true, and the title filter is not str.title().
/// </summary>
public sealed class JinjaBehaviourTests
{
    private static readonly Dictionary<string, object?> Variables = new()
    {
        ["messages"] = new List<Dictionary<string, object?>>
        {
            new() { ["role"] = "system", ["content"] = "  Be nice. " },
            new() { ["role"] = "user", ["content"] = "Hi" },
        },
        ["items"] = new[] { 3, 1, 2 },
        ["name"] = "World",
        ["n"] = 7,
        ["f"] = 2.5,
        ["d"] = new Dictionary<string, object?> { ["b"] = 2, ["a"] = 1 },
        ["empty"] = "",
        ["nothing"] = null,
        ["flag"] = true,
    };

    [Theory]
    [InlineData("{{ 'a\\'b' }}|{{ \"tab\\tend\" }}|{{ 'a\\nb' }}|{{ 'a' 'b' }}|{{ \"It's\" }}",
        "a'b|tab\tend|a\nb|ab|It's")]
    [InlineData("{{ 42 }}|{{ 3.0 }}|{{ 1e3 }}|{{ 1e-5 }}|{{ 0.1 + 0.2 }}|{{ true }}|{{ none }}|{{ True }}",
        "42|3.0|1000.0|1e-05|0.30000000000000004|True|None|True")]
    [InlineData("{{ [1, 'a', none, true, 2.5] }}|{{ {'k': 'v', 'n': 1} }}|{{ [\"It's\", 'x'] }}|{{ [] }}|{{ {} }}",
        "[1, 'a', None, True, 2.5]|{'k': 'v', 'n': 1}|[\"It's\", 'x']|[]|{}")]
    [InlineData("{{ 7 // 2 }}|{{ -7 // 2 }}|{{ 7 % 3 }}|{{ -7 % 3 }}|{{ 7 / 2 }}|{{ 4 / 2 }}|{{ 2 ** 10 }}|{{ 1 + 2 * 3 }}|{{ (1 + 2) * 3 }}|{{ 10 - 2 - 3 }}",
        "3|-4|1|2|3.5|2.0|1024|7|9|5")]
    [InlineData("{{ 1.5 + 1 }}|{{ 'a' ~ 1 ~ none ~ 2.0 }}|{{ 'ab' * 3 }}|{{ [1, 2] + [3] }}|{{ -n | abs }}|{{ - 3 ** 2 }}|{{ 'x' ~ (n + 1) }}|{{ (1 + 2) ~ 3 }}",
        "2.5|a1None2.0|ababab|[1, 2, 3]|7|9|x8|33")]
    [InlineData("{{ n > 5 and n < 10 }}|{{ 1 < 2 < 3 }}|{{ 3 > 2 > 5 }}|{{ not flag }}|{{ 'x' in 'xyz' }}|{{ 4 not in items }}|{{ 'a' in d }}|{{ 1 == 1.0 }}|{{ 'a' != 'b' }}",
        "True|True|False|False|True|True|True|True|True")]
    [InlineData("{{ nothing or 'fallback' }}|{{ empty and 'no' }}|{{ 'yes' if flag else 'no' }}|[{{ 'yes' if not flag }}]|{{ 'x' if undefined_var is not defined else 'y' }}",
        "fallback||yes|[]|x")]
    [InlineData("{{ messages[0].role }}|{{ messages[-1]['content'] }}|{{ messages[5] is defined }}|{{ d.a }}|{{ d['b'] }}|{{ items.0 }}|{{ 'abc'[1] }}|{{ messages[0].nope is defined }}",
        "system|Hi|False|1|2|3|b|False")]
    [InlineData("{{ items[1:] }}|{{ items[::-1] }}|{{ name[1:3] }}|{{ name[-2:] }}|{{ messages[1:] | length }}|{{ items[:-1] }}|{{ name[::2] }}",
        "[1, 2]|[2, 1, 3]|or|ld|1|[3, 1]|Wrd")]
    [InlineData("{{ nothing is none }}|{{ name is string }}|{{ n is number }}|{{ f is float }}|{{ n is integer }}|{{ flag is boolean }}|{{ d is mapping }}|{{ items is iterable }}|{{ undefined_var is defined }}|{{ n is divisibleby 7 }}|{{ n is odd }}|{{ n is not even }}|{{ name is lower }}|{{ flag is true }}|{{ n is eq 7 }}|{{ flag is number }}|{{ flag is integer }}",
        "True|True|True|True|True|True|True|True|False|True|True|True|False|True|True|True|False")]
    [InlineData("{{ messages[0].content | trim }}|{{ name | upper }}|{{ name | lower }}|{{ items | length }}|{{ items | first }}|{{ items | last }}|{{ items | join(', ') }}|{{ 'hello world' | capitalize }}|{{ 'hello wORLD' | title }}|{{ 'a-b-c' | replace('-', '+') }}",
        "Be nice.|WORLD|world|3|3|2|3, 1, 2|Hello world|Hello World|a+b+c")]
    [InlineData("{{ n | string }}|{{ '42' | int + 1 }}|{{ 'x' | int }}|{{ 3.9 | int }}|{{ '2.7' | int }}|{{ '3.5' | float }}|{{ undefined_var | default('dflt') }}|{{ empty | default('dflt', true) }}|{{ empty | default('dflt') }}|{{ nothing | default('dflt') }}",
        "7|43|0|3|2|3.5|dflt|dflt||None")]
    [InlineData("{{ items | sort | list }}|{{ items | sort(reverse=true) | join }}|{{ d | tojson }}|{{ items | sum }}|{{ items | max }}|{{ items | min }}|{{ [1, 1, 2] | unique | list }}|{{ items | reverse | list }}|{{ 'abc' | reverse }}|{{ ['b', 'A', 'a'] | sort | join }}",
        "[1, 2, 3]|321|{\"b\": 2, \"a\": 1}|6|3|1|[1, 2]|[2, 1, 3]|cba|Aab")]
    [InlineData("{{ {'a': [1, 2], 'b': {'c': none}, 'e': []} | tojson(indent=2) }}",
        "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {\n    \"c\": null\n  },\n  \"e\": []\n}")]
    [InlineData("{{ {'s': 'é\"\\\\n<&', 't': true, 'f': 1.0} | tojson }}|{{ 'plain' | tojson }}|{{ [1, [2, {}]] | tojson }}",
        "{\"s\": \"é\\\"\\\\n<&\", \"t\": true, \"f\": 1.0}|\"plain\"|[1, [2, {}]]")]
    [InlineData("{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | join }}|{{ messages | rejectattr('role', 'eq', 'user') | list | length }}|{{ messages | map(attribute='role') | join('/') }}|{{ [0, 1, '', 'x'] | select | list }}|{{ items | map('string') | join('-') }}|{{ items | select('odd') | list }}",
        "Hi|1|system/user|[1, 'x']|3-1-2|[3, 1]")]
    [InlineData("{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent(2, first=true, blank=true) }}",
        "a\n  b\n\n  c|  a\n  b|  a\n  \n  b")]
    [InlineData("{{ '😀é' | length }}|[{{ missing }}]|{{ missing | length }}|{% for x in missing %}x{% endfor %}|{{ messages | length > 1 }}|{{ messages[0]['content'] | trim | length }}|{{ 'a b  c' | wordcount }}",
        "2|[]|0||True|8|3")]
    [InlineData("{{ '  hi  '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'abc'.startswith('ab') }}|{{ 'abc'.endswith(('x', 'c')) }}|{{ 'Hi'.upper() }}{{ 'Hi'.lower() }}|{{ 'a-b'.replace('-', '') }}|{{ 'l1\\nl2'.splitlines() }}|{{ 'hello'.find('l') }}|{{ ', '.join(['a', 'b']) }}|{{ 'a b c'.split(' ', 1) }}|{{ '\\n\\nx'.lstrip('\\n') }}|{{ 'abc'.title() }}",
        "hi|hi|['a', 'b', '', 'c']|['a', 'b']|True|True|HIhi|ab|['l1', 'l2']|2|a, b|['a', 'b c']|x|Abc")]
    [InlineData("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|{{ d.get('a') }}|{{ d.get('zz', 'none!') }}|{{ d.get('zz') }}|{{ d.keys() | list }}|{{ d.values() | list }}|{{ messages[0].content.strip().upper() }}",
        "b=2;a=1;|1|none!|None|['b', 'a']|[2, 1]|BE NICE.")]
    [InlineData("{% for x in items %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.length }}/{{ loop.first }}/{{ loop.last }}/{{ loop.revindex }}/{{ loop.revindex0 }};{% endfor %}",
        "1/0/3/True/False/3/2;2/1/3/False/False/2/1;3/2/3/False/True/1/0;")]
    [InlineData("{% for x in [] %}x{% else %}empty{% endfor %}|{% for x in items if x > 1 %}{{ x }}{{ ',' if not loop.last }}{% endfor %}|{% for x in items %}{{ loop.cycle('a', 'b') }}{% endfor %}|{% for x in items %}{{ loop.previtem }}>{{ x }} {% endfor %}",
        "empty|3,2|aba|>3 3>1 1>2 ")]
    [InlineData("{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}|{% for a in [1, 2] %}{% for b in 'xy' %}{{ a }}{{ b }}{{ loop.index }} {% endfor %}{{ loop.index }};{% endfor %}",
        "0134|1x1 1y2 1;2x1 2y2 2;")]
    [InlineData("{% set x = 1 %}{% for i in [1, 2] %}{% set x = x + i %}{{ x }}{% endfor %}|{{ x }}|{% if true %}{% set y = 5 %}{% endif %}{{ y }}|{% for k, v in [[1, 2], [3, 4]] %}{{ k + v }}{% endfor %}|{% set a, b = 1, 2 %}{{ a }}{{ b }}",
        "23|1|5|37|12")]
    [InlineData("{% set ns = namespace(total=0, seen=[]) %}{% for i in items %}{% set ns.total = ns.total + i %}{% endfor %}{{ ns.total }}|{% set greeting %}Hello {{ name }}{% endset %}{{ greeting | upper }}|{{ range(3) | list }}|{{ range(1, 10, 3) | join(',') }}|{{ dict(a=1, b='x') }}|{{ range(5, 0, -2) | list }}",
        "6|HELLO WORLD|[0, 1, 2]|1,4,7|{'a': 1, 'b': 'x'}|[5, 3, 1]")]
    [InlineData("{% macro wrap(text, tag='b') %}<{{ tag }}>{{ text }}</{{ tag }}>{% endmacro %}{{ wrap('x') }}{{ wrap('y', tag='i') }}{{ wrap(text='z') }}|{% if n < 5 %}small{% elif n < 10 %}medium{% else %}large{% endif %}",
        "<b>x</b><i>y</i><b>z</b>|medium")]
    [InlineData("a  {{- name -}}  b|{%- if true -%}  x  {%- endif -%}  |",
        "aWorldb|x|")]
    [InlineData("  {% if true %}\n  x\n  {% endif %}\nend",
        "  x\nend")]
    [InlineData("a{# comment #}b\nline1\n  {# c #}\nline2",
        "ab\nline1\nline2")]
    [InlineData("{% raw %}{{ not rendered }} {% if %}{% endraw %}|",
        "{{ not rendered }} {% if %}|")]
    [InlineData("x {% if true %}y{% endif %} z\n{%+ if true %}kept{% endif +%}\nafter",
        "x y z\nkept\nafter")]
    [InlineData("  {{ name }}\n  {% for i in [1] %}\n    {{ i }}\n  {% endfor %}\ndone\n",
        "  World\n    1\ndone")]
    [InlineData("{% if true %}\r\nwindows\r\n{% endif %}\r\n",
        "windows\n")]
    [InlineData("{% if messages | selectattr('role', 'equalto', 'tool') %}always{% endif %}|{{ messages | selectattr('role', 'equalto', 'tool') | list | length }}|{{ messages | map(attribute='role') | first }}|{{ items | reverse | join }}",
        "always|0|system|213")]
    [InlineData("{{ f is even }}|{{ f is odd }}|{{ 3.5 is divisibleby 3 }}|{{ 6 is divisibleby(3) }}|{{ '' is lower }}|{{ 'abc' is lower }}|{{ d is lower }}|{{ missing is iterable }}|{{ missing is sequence }}",
        "False|False|False|True|False|True|True|True|True")]
    [InlineData("{{ 3 | round }}|{{ 2.5 | round }}|{{ 3.14159 | round(2) }}|{{ 2.1 | round(0, 'ceil') }}|{{ 2.9 | round(method='floor') }}|{{ 'hello wORLD it\\'s (great)' | title }}|{{ \"it's a 'quoted' word\" | title }}|{{ 'x-y z' | title }}",
        "3|2.0|3.14|3.0|2.0|Hello World It's (Great)|It's A 'quoted' Word|X-Y Z")]
    [InlineData("{{ messages[0] | wordcount }}|{{ 'one, two; three' | wordcount }}|{{ 2 * [1] }}|{{ [0] * 2 }}",
        "5|3|[1, 1]|[0, 0]")]
    public void RendersLikePythonJinja(string template, string expected)
    {
        Assert.Equal(expected, ChatTemplate.Compile(template).Render(Variables));
    }

    [Fact]
    public void GenerationMarkersRenderTheirBody()
    {
        // transformers' {% generation %} marks assistant text for training masks; rendering ignores it.
        var template = ChatTemplate.Compile("{% for m in messages %}{% generation %}[{{ m.content }}]{% endgeneration %}{% endfor %}");
        Assert.Equal("[a][b]", template.Render([new ChatMessage("user", "a"), new ChatMessage("assistant", "b")], addGenerationPrompt: false));
    }

    [Fact]
    public void StrftimeNowFormatsTheClock()
    {
        var template = ChatTemplate.Compile("Today Date: {{ strftime_now('%d %b %Y') }} ({{ strftime_now('%A %H:%M') }})",
            clock: () => new DateTime(2024, 7, 26, 9, 5, 0));
        Assert.Equal("Today Date: 26 Jul 2024 (Friday 09:05)", template.Render(new Dictionary<string, object?>()));
    }

    [Fact]
    public void ToolsAndDocumentsDefaultToNone()
    {
        var template = ChatTemplate.Compile("{{ tools is none }}/{{ tools is defined }}/{{ documents }}/{{ custom }}");
        Assert.Equal("True/True/None/x",
            template.Render([], addGenerationPrompt: false, variables: new Dictionary<string, object?> { ["custom"] = "x" }));
    }

    [Fact]
    public void MacrosMayRecurseWithinALimit()
    {
        var template = ChatTemplate.Compile("{% macro down(k) %}{{ k }}{% if k > 0 %}{{ down(k - 1) }}{% endif %}{% endmacro %}{{ down(3) }}");
        Assert.Equal("3210", template.Render(new Dictionary<string, object?>()));
        var runaway = ChatTemplate.Compile("{% macro forever() %}{{ forever() }}{% endmacro %}{{ forever() }}");
        Assert.Contains("recursed too deeply", Assert.Throws<TemplateException>(() => runaway.Render(new Dictionary<string, object?>())).Message);
    }
}
