import { DomainError } from "@heidrun/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tokenCounter } from "./counters";
import { createTokenizerRegistry } from "./registry";
import { TokenCountingService } from "./service";
import type { ChatMessage } from "./types";

const PARAGRAPH =
  "Invoices are settled nightly; the ledger keeps every hold, capture and refund. Ünïcödé, 日本語, emoji 🚀 too.\n";

function textOfBytes(minBytes: number): string {
  return PARAGRAPH.repeat(Math.ceil(minBytes / Buffer.byteLength(PARAGRAPH)));
}

describe("TokenCountingService", () => {
  const registry = createTokenizerRegistry();
  const service = new TokenCountingService(registry, { offThreadThresholdBytes: 65_536, poolSize: 1 });
  const big = textOfBytes(80 * 1024);

  beforeAll(() => service.warmUp());
  afterAll(() => service.close());

  it("counts small texts inline", async () => {
    const before = service.stats();
    const result = await service.countTokens({
      providerId: "openai",
      model: "gpt-4o",
      text: "tiktoken is great!",
    });
    expect(result).toEqual({ tokens: 6n, tokenizer: "o200k_base", exact: true });
    expect(service.stats()).toEqual({ ...before, inlineTasks: before.inlineTasks + 1 });
  });

  it.each([
    ["openai", "gpt-4o", "o200k_base", true],
    ["openai", "gpt-4", "cl100k_base", true],
    ["anthropic", "claude-sonnet-4-5", "claude", false],
  ] as const)(
    "counts a text over 64 KiB for %s %s in the pool, equal to the inline count",
    async (providerId, model, tokenizer, exact) => {
      const before = service.stats();
      const result = await service.countTokens({ providerId, model, text: big });
      expect(result).toEqual({ tokens: tokenCounter(tokenizer).countText(big), tokenizer, exact });
      expect(service.stats()).toEqual({ ...before, offThreadTasks: before.offThreadTasks + 1 });
    },
  );

  it("counts big message lists in the pool with the same framing as inline", async () => {
    const messages: ChatMessage[] = [
      { role: "system", content: "You count tokens." },
      { role: "user", name: "alice", content: big },
      { role: "assistant", content: PARAGRAPH },
    ];
    const before = service.stats();
    const result = await service.countTokens({ providerId: "openai", model: "gpt-4o-mini", messages });
    expect(result.tokens).toBe(tokenCounter("o200k_base").countMessages(messages));
    expect(service.stats().offThreadTasks).toBe(before.offThreadTasks + 1);
  });

  it("keeps the event loop turning while a 2 MiB text is counted in a worker", async () => {
    const huge = textOfBytes(2 * 1024 * 1024);
    const before = service.stats();
    let turnsWhileCounting = 0;
    let counting = true;
    const spin = () => {
      if (!counting) return;
      turnsWhileCounting++;
      setImmediate(spin);
    };
    setImmediate(spin);
    const result = await service.countTokens({ providerId: "openai", model: "gpt-4o", text: huge });
    counting = false;
    // Inline, the count would finish before the first turn; off-thread the loop keeps turning meanwhile.
    expect(turnsWhileCounting).toBeGreaterThan(0);
    expect(service.stats().offThreadTasks).toBe(before.offThreadTasks + 1);
    expect(result.tokens).toBe(tokenCounter("o200k_base").countText(huge));
  });

  it("keeps the estimate inline whatever the size: ceil(UTF-8 bytes / 4)", async () => {
    const before = service.stats();
    const result = await service.countTokens({ providerId: "acme", model: "acme-large", text: big });
    expect(result).toEqual({
      tokens: (BigInt(Buffer.byteLength(big)) + 3n) / 4n,
      tokenizer: "estimate",
      exact: false,
    });
    expect(service.stats()).toEqual({ ...before, inlineTasks: before.inlineTasks + 1 });
  });

  it("requires exactly one of text and messages", async () => {
    const both = service.countTokens({ providerId: "openai", model: "gpt-4o", text: "a", messages: [] });
    await expect(both).rejects.toThrow(DomainError);
    await expect(both).rejects.toMatchObject({ code: "INVALID_ARGUMENT", field: "messages" });
    await expect(service.countTokens({ providerId: "openai", model: "gpt-4o" })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
      field: "text",
    });
  });

  it("counts an empty text and an empty message list as zero", async () => {
    const text = await service.countTokens({ providerId: "openai", model: "gpt-4o", text: "" });
    const messages = await service.countTokens({ providerId: "openai", model: "gpt-4o", messages: [] });
    expect([text.tokens, messages.tokens]).toEqual([0n, 0n]);
  });
});

describe("the off-thread threshold is in UTF-8 bytes", () => {
  const service = new TokenCountingService(createTokenizerRegistry(), { offThreadThresholdBytes: 1000 });
  afterAll(() => service.close());

  it("counts exactly the threshold inline and one byte more in the pool", async () => {
    const atThreshold = "é".repeat(500); // 500 UTF-16 units, 1000 bytes
    await service.countTokens({ providerId: "openai", model: "gpt-4o", text: atThreshold });
    expect(service.stats()).toMatchObject({ inlineTasks: 1, offThreadTasks: 0 });

    await service.countTokens({ providerId: "openai", model: "gpt-4o", text: `${atThreshold}!` });
    expect(service.stats()).toMatchObject({ inlineTasks: 1, offThreadTasks: 1 });
  });

  it("sums role, content and name bytes of messages", async () => {
    const messages = [{ role: "user", name: "bob", content: "x".repeat(993) }]; // 4 + 993 + 3 = 1000
    await service.countTokens({ providerId: "openai", model: "gpt-4o", messages });
    expect(service.stats()).toMatchObject({ inlineTasks: 2, offThreadTasks: 1 });

    await service.countTokens({
      providerId: "openai",
      model: "gpt-4o",
      messages: [{ ...messages[0]!, name: "bobby" }],
    });
    expect(service.stats()).toMatchObject({ inlineTasks: 2, offThreadTasks: 2 });
  });

  it("refuses big counts after close, with UNAVAILABLE", async () => {
    await service.close();
    await expect(
      service.countTokens({ providerId: "openai", model: "gpt-4o", text: "x".repeat(2000) }),
    ).rejects.toMatchObject({ code: "UNAVAILABLE", retryable: true });
  });
});
