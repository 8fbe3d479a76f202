import cl100k from "gpt-tokenizer/encoding/cl100k_base";
import o200k from "gpt-tokenizer/encoding/o200k_base";
import { describe, expect, it } from "vitest";
import { tokenCounter } from "./counters";
import type { ChatMessage } from "./types";

// openai/openai-cookbook examples/How_to_count_tokens_with_tiktoken.ipynb, section 6: the example messages
// and the prompt_tokens the OpenAI API reported for them.
const COOKBOOK_MESSAGES: ChatMessage[] = [
  {
    role: "system",
    content:
      "You are a helpful, pattern-following assistant that translates corporate jargon into plain English.",
  },
  { role: "system", name: "example_user", content: "New synergies will help drive top-line growth." },
  {
    role: "system",
    name: "example_assistant",
    content: "Things working well together will increase revenue.",
  },
  {
    role: "system",
    name: "example_user",
    content:
      "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.",
  },
  {
    role: "system",
    name: "example_assistant",
    content: "Let's talk later when we're less busy about how to do better.",
  },
  {
    role: "user",
    content: "This late pivot means we don't have time to boil the ocean for the client deliverable.",
  },
];

const WITHOUT_NAMES = COOKBOOK_MESSAGES.map(({ role, content }) => ({ role, content }));

describe("chat messages, counted the way OpenAI bills them", () => {
  it("gives the API's 129 prompt tokens for gpt-3.5-turbo / gpt-4 (cl100k_base)", () => {
    expect(tokenCounter("cl100k_base").countMessages(COOKBOOK_MESSAGES)).toBe(129n);
  });

  it("gives the API's 124 prompt tokens for gpt-4o / gpt-4o-mini (o200k_base)", () => {
    expect(tokenCounter("o200k_base").countMessages(COOKBOOK_MESSAGES)).toBe(124n);
  });

  it("treats an empty name as no name, and no messages as nothing to count", () => {
    const withEmptyNames = WITHOUT_NAMES.map((message) => ({ ...message, name: "" }));
    const counter = tokenCounter("o200k_base");
    expect(counter.countMessages(withEmptyNames)).toBe(counter.countMessages(WITHOUT_NAMES));
    expect(counter.countMessages([])).toBe(0n);
  });

  it("counts the estimate with the same framing", () => {
    // "user" → 1, "hi" → 1; framing 3 per message + 3 reply priming.
    expect(tokenCounter("estimate").countMessages([{ role: "user", content: "hi" }])).toBe(8n);
  });
});

describe("gpt-tokenizer's encodeChat, for comparison", () => {
  // encodeChat writes the name in place of the role (the gpt-3.5-turbo-0301 layout), so named messages come
  // out lower than the API's count; without names both agree.
  it("undercounts the cookbook example, whose messages carry names", () => {
    expect(cl100k.encodeChat(COOKBOOK_MESSAGES, "gpt-4")).toHaveLength(121);
    expect(o200k.encodeChat(COOKBOOK_MESSAGES, "gpt-4o")).toHaveLength(116);
    expect(cl100k.encodeChat(COOKBOOK_MESSAGES, "gpt-3.5-turbo")).toHaveLength(127);
  });

  it("agrees with this package when no message has a name", () => {
    expect(tokenCounter("cl100k_base").countMessages(WITHOUT_NAMES)).toBe(
      BigInt(cl100k.encodeChat(WITHOUT_NAMES, "gpt-4").length),
    );
    expect(tokenCounter("o200k_base").countMessages(WITHOUT_NAMES)).toBe(
      BigInt(o200k.encodeChat(WITHOUT_NAMES, "gpt-4o").length),
    );
  });
});
