import { afterAll, beforeAll } from "vitest";
import { createTestContext, type TestContext } from "./fixture";

/**
 * Registers a per-file database and Redis prefix. Call at the top of a test file; the returned getter
 * works inside tests and hooks.
 */
export function useTestContext(): () => TestContext {
  let context: TestContext | undefined;
  beforeAll(async () => {
    context = await createTestContext();
  });
  afterAll(async () => {
    await context?.close();
  });
  return () => {
    if (!context) throw new Error("the test context is created in beforeAll; use it inside tests or hooks");
    return context;
  };
}
