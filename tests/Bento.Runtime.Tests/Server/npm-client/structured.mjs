// Structured outputs and tool calls through the official OpenAI Node client's own helpers, against a BentoBuilder
// runtime. Usage: node structured.mjs PACKAGE BASE_URL; prints what it saw as one JSON line (see NpmClientTests.cs).
const pkg = process.argv[2];
const { default: OpenAI } = await import(pkg);
const { zodResponseFormat } = await import(`${pkg}/helpers/zod`);
const { z } = await import("zod");

const client = new OpenAI({ baseURL: process.argv[3], apiKey: "unused", maxRetries: 0, timeout: 120000 });
const result = { parsed: [], tools: [], stream: null };

// client.chat.completions.parse since 5.x; 4.x has it under beta.
const completions = client.chat.completions.parse ? client.chat.completions : client.beta.chat.completions;
const Person = z.object({
  name: z.string().max(10),
  age: z.number().int().min(0).max(150),
  tags: z.array(z.enum(["a", "b", "c"])).max(3),
});
for (let seed = 0; seed < 6; seed++) {
  try {
    const c = await completions.parse({
      model: "tiny-llama",
      messages: [{ role: "user", content: "a person" }],
      response_format: zodResponseFormat(Person, "person"),
      max_tokens: 300,
      seed,
    });
    // parse() has already run the zod schema over the content: parsed is a validated object.
    result.parsed.push({ seed, finish: c.choices[0].finish_reason, parsed: c.choices[0].message.parsed });
  } catch (e) {
    result.parsed.push({ seed, error: `${e.constructor.name}: ${e.message}` });
  }
}

const tools = [{
  type: "function",
  function: {
    name: "get_weather",
    description: "Weather in a city",
    parameters: { type: "object", properties: { city: { type: "string", maxLength: 12 }, days: { type: "integer", minimum: 1, maximum: 7 } }, required: ["city", "days"], additionalProperties: false },
  },
}];
for (let seed = 0; seed < 3; seed++) {
  const c = await client.chat.completions.create({
    model: "tiny-llama", messages: [{ role: "user", content: "weather?" }], tools, tool_choice: "required", max_tokens: 200, seed,
  });
  result.tools.push({ finish: c.choices[0].finish_reason, calls: c.choices[0].message.tool_calls });
}

// Streamed tool call, accumulated the way applications do it from the deltas.
try {
  const stream = await client.chat.completions.create({
    model: "tiny-llama", messages: [{ role: "user", content: "weather?" }], tools,
    tool_choice: { type: "function", function: { name: "get_weather" } }, max_tokens: 200, seed: 4, stream: true,
  });
  const calls = [];
  let finish = null;
  for await (const chunk of stream) {
    const choice = chunk.choices[0];
    if (!choice) continue;
    for (const d of choice.delta.tool_calls ?? []) {
      calls[d.index] ??= { id: d.id, name: "", arguments: "" };
      if (d.function?.name) calls[d.index].name = d.function.name;
      calls[d.index].arguments += d.function?.arguments ?? "";
    }
    finish = choice.finish_reason ?? finish;
  }
  result.stream = { calls, finish, error: null };
} catch (e) {
  result.stream = { error: e.message };
}

console.log(JSON.stringify(result));
