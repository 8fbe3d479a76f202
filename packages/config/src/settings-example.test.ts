import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseSettings } from "./load";

const EXAMPLE = new URL("../../../config/settings.example.json", import.meta.url);

/** The settings as JSON would carry them: bigints as decimal strings. */
function asJson(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_key, item) => (typeof item === "bigint" ? item.toString() : item)),
  );
}

describe("config/settings.example.json", () => {
  it("is valid and shows every setting at its default (regenerate it when a setting is added)", () => {
    const example = JSON.parse(readFileSync(EXAMPLE, "utf8"));
    expect(asJson(parseSettings(example))).toEqual(asJson(parseSettings({})));
    expect(example).toEqual(asJson(parseSettings({})));
  });
});
