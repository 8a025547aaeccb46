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

// Streams from a minimal Node http server sending OpenAI-shaped SSE (chunked, like every SSE server). openai 4.x reads
// bodies through node-fetch 2, which on some Node versions reports "Premature close" for any chunked stream, Node's own
// server included; the test uses this to tell a client bug from ours.
async function referenceStreamError() {
  const http = await import("node:http");
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      const chunk = { id: "cmpl-ref", object: "chat.completion.chunk", created: 0, model: "ref", choices: [{ index: 0, delta: { content: "x" }, finish_reason: null }] };
      res.write(`data: ${JSON.stringify(chunk)}\n\n`);
      res.end("data: [DONE]\n\n");
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const reference = new OpenAI({ baseURL: `http://127.0.0.1:${server.address().port}/v1`, apiKey: "unused", maxRetries: 0 });
    const s = await reference.chat.completions.create({ model: "ref", messages: [{ role: "user", content: "x" }], stream: true });
    for await (const _ of s) { /* drain */ }
    return null;
  } catch (e) {
    return e.message;
  } finally {
    server.close();
  }
}
result.referenceStreamError = await referenceStreamError();

let streamed = "";
let finish = null;
let usage = null;
try {
const stream = await client.chat.completions.create({
  model: "tiny-llama",
  messages: [{ role: "user", content: "1 2 3 4" }],
  max_tokens: 6,
  temperature: 0,
  stream: true,
  stream_options: { include_usage: true },
});
for await (const chunk of stream) {
  if (chunk.choices.length > 0) {
    streamed += chunk.choices[0].delta.content ?? "";
    finish = chunk.choices[0].finish_reason ?? finish;
  }
  if (chunk.usage) usage = chunk.usage;
}
result.stream = { text: streamed, finish, usage, error: null };
} catch (e) {
  result.stream = { text: streamed, finish, usage, error: e.message };
}

const completion = await client.completions.create({ model: "tiny-llama", prompt: "1 2 3", max_tokens: 4, temperature: 0 });
result.completion = { text: completion.choices[0].text, finish: completion.choices[0].finish_reason, usage: completion.usage };

try {
  await client.completions.create({ model: "tiny-llama", prompt: "1", max_tokens: 100000 });
  result.error = null;
} catch (e) {
  result.error = { status: e.status, message: e.message };
}

console.log(JSON.stringify(result));
