import type { CountTokensRequest } from "@heidrun/proto";
import { createTokenizerRegistry, TokenCountingService } from "@heidrun/tokenizers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_KEY, bearer, startTestIngress, type TestIngress, unary } from "../test-harness";

let server: TestIngress;
let counter: TokenCountingService;

beforeAll(async () => {
  counter = new TokenCountingService(createTokenizerRegistry({ modelMap: { "acme-*": "cl100k_base" } }), {
    offThreadThresholdBytes: 1024,
  });
  await counter.warmUp();
  server = await startTestIngress();
  // The harness builds the adapter's deps only; counting needs the real counter, read at call time.
  server.deps.tokenCounter = counter;
});
afterAll(async () => {
  await server?.close();
  await counter?.close();
});

const base: CountTokensRequest = {
  requestId: "",
  providerId: "openai",
  model: "gpt-4o",
  inputText: "",
  messages: [],
  outputText: "",
  inputTokens: 0n,
  outputTokens: 0n,
};

function count(request: Partial<CountTokensRequest>) {
  return unary(
    server.clients.token.countTokens.bind(server.clients.token),
    { ...base, ...request },
    bearer(ADMIN_KEY),
  );
}

describe("TokenService.CountTokens over gRPC", () => {
  it("counts input and output text with the model's tokenizer", async () => {
    expect(await count({ requestId: "c-1", inputText: "hello world", outputText: "Hello!" })).toEqual({
      requestId: "c-1",
      inputTokens: 2n,
      outputTokens: 2n,
      totalTokens: 4n,
      tokenizer: "o200k_base",
      exact: true,
    });
  });

  it("takes known counts as given and still names the tokenizer", async () => {
    expect(await count({ model: "gpt-4", inputTokens: 1000n, outputTokens: 24n })).toMatchObject({
      inputTokens: 1000n,
      outputTokens: 24n,
      totalTokens: 1024n,
      tokenizer: "cl100k_base",
      exact: true,
    });
  });

  it("counts chat messages with OpenAI's per-message framing", async () => {
    const messages = [{ role: "user", content: "hello world", name: "" }];
    const direct = await counter.countTokens({ providerId: "openai", model: "gpt-4o", messages });
    const answer = await count({ messages });
    // 3 framing tokens for the message, 1 for the role, 2 for the content, 3 to prime the reply.
    expect(answer.inputTokens).toBe(9n);
    expect(answer.inputTokens).toBe(direct.tokens);
  });

  it("marks approximations: Claude's tokenizer, unknown models, and ops-routed names", async () => {
    expect(
      await count({ providerId: "anthropic", model: "claude-sonnet-4", inputText: "hello world" }),
    ).toMatchObject({
      tokenizer: "claude",
      exact: false,
    });
    expect(
      await count({ providerId: "acme", model: "mystery-model", inputText: "hello world" }),
    ).toMatchObject({
      inputTokens: 3n, // ceil(11 UTF-8 bytes / 4)
      tokenizer: "estimate",
      exact: false,
    });
    expect(await count({ providerId: "acme", model: "acme-large", inputText: "hello world" })).toMatchObject({
      tokenizer: "cl100k_base",
      exact: true,
    });
  });

  it("counts a big text in the worker pool", async () => {
    const before = counter.stats().offThreadTasks;
    const answer = await count({ inputText: "hello world ".repeat(500) });
    // "hello", then " world" / " hello" pairs, and the trailing space on its own.
    expect(answer.inputTokens).toBe(1001n);
    expect(counter.stats().offThreadTasks).toBe(before + 1);
  });
});
