import { DomainError } from "@heidrun/core";
import { describe, expect, it } from "vitest";
import { requestValidators, type ValidationContext } from "./validation";
import { INVALID_CASES, VALID_REQUESTS } from "./validation-cases";

const ctx: ValidationContext = { nowMs: Date.now(), maxTtlSeconds: 86_400 };

function validatorFor(service: string, method: string): (request: unknown, ctx: ValidationContext) => void {
  const validators = requestValidators as unknown as Record<
    string,
    Record<string, (r: unknown, c: ValidationContext) => void>
  >;
  const validate = validators[service]?.[method];
  if (!validate) throw new Error(`no validator for ${service}.${method}`);
  return validate;
}

describe("request validators", () => {
  it.each(VALID_REQUESTS.map((c) => [`${c.service}.${c.method}`, c] as const))(
    "accept a valid %s",
    (_, c) => {
      expect(() => validatorFor(c.service, c.method)(c.request, ctx)).not.toThrow();
    },
  );

  it.each(INVALID_CASES.map((c) => [`${c.service}.${c.method}: ${c.name}`, c] as const))(
    "reject %s",
    (_, c) => {
      let thrown: unknown;
      try {
        validatorFor(c.service, c.method)(c.request, ctx);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(DomainError);
      const error = thrown as DomainError;
      expect({ code: error.code, field: error.field }).toEqual({ code: "INVALID_ARGUMENT", field: c.field });
      expect(error.message.startsWith(`${c.field}: `)).toBe(true);
    },
  );

  it("covers every method of every service with a valid request", () => {
    const methods = Object.entries(requestValidators).flatMap(([service, validators]) =>
      Object.keys(validators).map((method) => `${service}.${method}`),
    );
    expect(VALID_REQUESTS.map((c) => `${c.service}.${c.method}`).sort()).toEqual(methods.sort());
    expect(methods).toHaveLength(17);
  });
});
