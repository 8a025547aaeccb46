// Runs the official OpenAI Node client, unchanged, against a BentoBuilder runtime and prints what it saw as JSON.
// Usage: node client.mjs PACKAGE BASE_URL, e.g. node client.mjs openai4 http://127.0.0.1:3000/v1, where PACKAGE is
// one of the aliases in package.json (one per major version of the client).
const { default: OpenAI } = await import(process.argv[2]);

const client = new OpenAI({ baseURL: process.argv[3], apiKey: "unused", maxRetries: 0, timeout: 60000 });
const result = {};

const models = await client.models.list();
result.models = models.data.map((m) => m.id);

const chat = await client.chat.completions.create({
  model: "tiny-llama",
  messages: [{ role: "user", content: "1 2 3 4" }],
  max_tokens: 6,
  temperature: 0,
});
result.chat = { text: chat.choices[0].message.content, finish: chat.choices[0].finish_reason, usage: chat.usage };

const stream = await client.chat.completions.create({
  model: "tiny-llama",
  messages: [{ role: "user", content: "1 2 3 4" }],
  max_tokens: 6,
  temperature: 0,
  stream: true,
  stream_options: { include_usage: true },
});
let streamed = "";
let finish = null;
let usage = null;
for await (const chunk of stream) {
  if (chunk.choices.length > 0) {
    streamed += chunk.choices[0].delta.content ?? "";
    finish = chunk.choices[0].finish_reason ?? finish;
  }
  if (chunk.usage) usage = chunk.usage;
}
result.stream = { text: streamed, finish, usage };

const completion = await client.completions.create({ model: "tiny-llama", prompt: "1 2 3", max_tokens: 4, temperature: 0 });
result.completion = { text: completion.choices[0].text, finish: completion.choices[0].finish_reason, usage: completion.usage };

try {
  await client.completions.create({ model: "tiny-llama", prompt: "1", max_tokens: 100000 });
  result.error = null;
} catch (e) {
  result.error = { status: e.status, message: e.message };
}

console.log(JSON.stringify(result));
