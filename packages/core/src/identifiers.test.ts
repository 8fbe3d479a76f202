import { describe, expect, it } from "vitest";
import { DomainError } from "./errors";
import { validateId, validateModel } from "./identifiers";

function reason(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof DomainError && error.code === "INVALID_ARGUMENT") return error.message;
    throw error;
  }
  return "accepted";
}

describe("validateId", () => {
  it.each(["a", "req-1", "acct_42", "ns:123.v2", "A".repeat(128)])("accepts %j", (value) => {
    expect(validateId(value, "request_id")).toBe(value);
  });

  it.each([
    ["", "request_id: is required"],
    [undefined, "request_id: is required"],
    ["A".repeat(129), "request_id: must be at most 128 characters, got 129"],
    ["has space", "request_id: may only contain letters, digits and . _ : -"],
    ["slash/no", "request_id: may only contain letters, digits and . _ : -"],
    ["ünï", "request_id: may only contain letters, digits and . _ : -"],
    ["a\n", "request_id: may only contain letters, digits and . _ : -"],
  ])("refuses %j", (value, message) => {
    expect(reason(() => validateId(value, "request_id"))).toBe(message);
  });
});

describe("validateModel", () => {
  it.each(["gpt-4o-mini", "meta-llama/Llama-3.1-8B-Instruct", "ft:gpt-4o:acme:v2", "a@b+c", "m".repeat(256)])(
    "accepts %j",
    (value) => {
      expect(validateModel(value, "model", { allowDefault: false })).toBe(value);
    },
  );

  it("accepts * only where a default price is meant", () => {
    expect(validateModel("*", "price.model", { allowDefault: true })).toBe("*");
    expect(reason(() => validateModel("*", "model", { allowDefault: false }))).toBe(
      `model: "*" is only allowed for a provider's default price`,
    );
    expect(reason(() => validateModel("gpt-*", "model", { allowDefault: true }))).toMatch(/may only contain/);
  });

  it.each([
    ["", "model: is required"],
    ["m".repeat(257), "model: must be at most 256 characters, got 257"],
    ["gpt 4", "model: may only contain letters, digits and . _ : / @ + -"],
  ])("refuses %j", (value, message) => {
    expect(reason(() => validateModel(value, "model", { allowDefault: true }))).toBe(message);
  });
});
