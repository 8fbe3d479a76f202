import { DomainError } from "@heidrun/core";
import { describe, expect, it } from "vitest";
import { baseModelName } from "./model-routing";
import { createTokenizerRegistry } from "./registry";

describe("built-in routing", () => {
  const registry = createTokenizerRegistry();
  const route = (providerId: string, model: string) => {
    const counter = registry.resolve(providerId, model);
    return [counter.name, counter.exact];
  };

  it.each([
    ["openai", "gpt-4o"],
    ["openai", "gpt-4o-mini-2024-07-18"],
    ["openai", "chatgpt-4o-latest"],
    ["openai", "gpt-4.1-nano"],
    ["openai", "gpt-4.5-preview"],
    ["openai", "gpt-5"],
    ["openai", "gpt-5.1-codex"],
    ["openai", "o1"],
    ["openai", "o1-mini"],
    ["openai", "o3-pro-2025-06-10"],
    ["openai", "o4-mini"],
    ["openai", "gpt-oss-120b"],
    ["openrouter", "openai/gpt-4o"],
    ["azure", "GPT-4o"],
  ])("%s %s → o200k_base, exact", (providerId, model) => {
    expect(route(providerId, model)).toEqual(["o200k_base", true]);
  });

  it.each([
    ["openai", "gpt-4"],
    ["openai", "gpt-4-0613"],
    ["openai", "gpt-4-turbo-2024-04-09"],
    ["openai", "gpt-4-32k"],
    ["openai", "gpt-3.5-turbo"],
    ["openai", "gpt-3.5-turbo-16k-0613"],
    ["azure", "gpt-35-turbo"],
    ["openai", "text-embedding-3-small"],
    ["openai", "text-embedding-3-large"],
    ["openai", "text-embedding-ada-002"],
  ])("%s %s → cl100k_base, exact", (providerId, model) => {
    expect(route(providerId, model)).toEqual(["cl100k_base", true]);
  });

  it.each([
    ["openai", "ft:gpt-4o:acme:v2", "o200k_base"],
    ["openai", "ft:gpt-4o-mini-2024-07-18:acme::AbC123", "o200k_base"],
    ["openai", "ft:gpt-3.5-turbo-0125:personal::9xYz", "cl100k_base"],
    ["openai", "openai/ft:gpt-4.1:acme:nightly:ckpt-3", "o200k_base"],
    ["openai", "ft:davinci-002:acme::x1", "cl100k_base"],
  ])("fine-tune %s %s → its base model's %s", (providerId, model, tokenizer) => {
    expect(route(providerId, model)).toEqual([tokenizer, true]);
  });

  it.each([
    ["anthropic", "claude-sonnet-4-5"],
    ["anthropic", "claude-3-5-haiku-20241022"],
    ["bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0"],
    ["vertex", "claude-opus-4@20250514"],
    ["openrouter", "anthropic/claude-3.7-sonnet"],
    ["anthropic", "some-future-model"],
  ])("%s %s → claude, not exact", (providerId, model) => {
    expect(route(providerId, model)).toEqual(["claude", false]);
  });

  it.each([
    ["acme", "acme-large-v2"],
    ["openai", "gpt-6-preview"],
    ["openai", "o10"],
    ["openai", "gpt-4x"],
    ["mistral", "mistral-large-latest"],
    ["", ""],
  ])("%s %j → estimate, not exact", (providerId, model) => {
    expect(route(providerId, model)).toEqual(["estimate", false]);
  });

  it.each([
    ["openai/gpt-4o", "gpt-4o"],
    ["azure/eu-west/GPT-4o ", "gpt-4o"],
    ["ft:gpt-4o:acme:v2", "gpt-4o"],
    ["curie:ft-acme-2023-03-01-12-00-00", "curie"],
    ["anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku-20240307-v1:0"],
  ])("base name of %j is %j", (model, base) => {
    expect(baseModelName(model)).toBe(base);
  });
});

describe("modelMap", () => {
  it("routes custom names, with exact keys before patterns and longer patterns before shorter", () => {
    const registry = createTokenizerRegistry({
      modelMap: {
        "acme-*": "cl100k_base",
        "acme-chat-*": "o200k_base",
        "acme-chat-legacy": "estimate",
        "azure/*": "o200k_base",
        "*-sonnet-*": "claude",
      },
    });
    const name = (providerId: string, model: string) => registry.resolve(providerId, model).name;
    expect(name("acme", "acme-embed-1")).toBe("cl100k_base");
    expect(name("acme", "ACME-Chat-7b")).toBe("o200k_base");
    expect(name("acme", "acme-chat-legacy")).toBe("estimate");
    expect(name("azure", "my-prod-deployment")).toBe("o200k_base");
    expect(name("together", "meta/llama-sonnet-3")).toBe("claude");
    expect(name("acme", "other")).toBe("estimate");
  });

  it("overrides the built-in rules, also for fine-tunes of the named base model", () => {
    const registry = createTokenizerRegistry({ modelMap: { "gpt-4o": "estimate" } });
    expect(registry.resolve("openai", "gpt-4o").name).toBe("estimate");
    expect(registry.resolve("openai", "ft:gpt-4o:acme:v2").name).toBe("estimate");
    expect(registry.resolve("openai", "gpt-4o-mini").name).toBe("o200k_base");
  });

  it("hot-reloads with updateModelMap and keeps the old map when the new one is invalid", () => {
    const registry = createTokenizerRegistry();
    expect(registry.resolve("acme", "acme-large").name).toBe("estimate");

    registry.updateModelMap({ "acme-*": "o200k_base" });
    expect(registry.resolve("acme", "acme-large").name).toBe("o200k_base");

    const invalid = () => registry.updateModelMap({ "acme-*": "cl100k_base", "other-*": "p50k_base" });
    expect(invalid).toThrow(DomainError);
    expect(invalid).toThrow('tokenizers.modelMap["other-*"]: unknown tokenizer "p50k_base"');
    expect(registry.resolve("acme", "acme-large").name).toBe("o200k_base");

    registry.updateModelMap({});
    expect(registry.resolve("acme", "acme-large").name).toBe("estimate");
  });

  it("rejects an empty model name", () => {
    expect(() => createTokenizerRegistry({ modelMap: { " ": "claude" } })).toThrow(
      'tokenizers.modelMap[" "]: model name must not be empty',
    );
  });
});

describe("warmUp", () => {
  it("loads every encoder once and reports warm", async () => {
    const registry = createTokenizerRegistry();
    const first = registry.warmUp();
    expect(registry.warmUp()).toBe(first);
    await first;
    expect(registry.warm).toBe(true);
    expect(registry.resolve("openai", "gpt-4o").countText("tiktoken is great!")).toBe(6n);
  });
});
