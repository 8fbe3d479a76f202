import { describe, expect, it } from "vitest";
import { demoKeys } from "./demo";

describe("the demo's admin key", () => {
  it("is the configured admin key, and the fleet gets the keys as configured", () => {
    const keys = demoKeys([
      { id: "a", key: "yggdrasil-key-000000001", scope: "yggdrasil" },
      { id: "b", key: "admin-key-0000000000001", scope: "admin" },
    ]);
    expect(keys).toEqual({
      adminKey: "admin-key-0000000000001",
      generated: false,
      env: "yggdrasil-key-000000001=yggdrasil,admin-key-0000000000001=admin",
    });
  });

  it("is generated when none is configured, and added to the fleet's keys", () => {
    const keys = demoKeys([{ id: "a", key: "yggdrasil-key-000000001", scope: "yggdrasil" }]);
    expect(keys.generated).toBe(true);
    expect(keys.adminKey).toMatch(/^demo-admin-[0-9a-f]{32}$/);
    expect(keys.env).toBe(`yggdrasil-key-000000001=yggdrasil,${keys.adminKey}=admin`);
    expect(demoKeys([]).adminKey).not.toBe(keys.adminKey);
  });
});
