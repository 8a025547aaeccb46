// Hugging Face's own implementations as the reference: the Rust tokenizers (npm "tokenizers") encode and decode,
// @huggingface/jinja (what transformers.js renders chat templates with) renders.
// stdin: {"tokenizer": PATH, "texts": [...], "decode": [[ids]...], "chats": [{"template", "messages", "add_generation_prompt", "bos_token", "eos_token"}]}
// stdout: {"encoded": [{"with": [...], "without": [...]}], "decoded": [{"keep": "...", "skip": "..."}], "rendered": ["..." or {"error": "..."}]}
import { createRequire } from "module";
import { readFileSync } from "fs";
const require = createRequire(import.meta.url);
const { Tokenizer } = require("tokenizers");
const { Template } = require("@huggingface/jinja");

const input = JSON.parse(readFileSync(0, "utf8"));
const tokenizer = Tokenizer.fromFile(input.tokenizer);
const encoded = [];
for (const text of input.texts) {
  const withSpecials = await tokenizer.encode(text, null, { addSpecialTokens: true });
  const without = await tokenizer.encode(text, null, { addSpecialTokens: false });
  encoded.push({ with: withSpecials.getIds(), without: without.getIds() });
}
const decoded = [];
for (const ids of input.decode ?? []) {
  decoded.push({ keep: await tokenizer.decode(ids, false), skip: await tokenizer.decode(ids, true) });
}
const rendered = [];
for (const chat of input.chats ?? []) {
  try {
    rendered.push(new Template(chat.template).render({
      messages: chat.messages, add_generation_prompt: chat.add_generation_prompt,
      bos_token: chat.bos_token, eos_token: chat.eos_token,
    }));
  } catch (e) {
    rendered.push({ error: String(e.message ?? e) });
  }
}
process.stdout.write(JSON.stringify({ encoded, decoded, rendered }));
