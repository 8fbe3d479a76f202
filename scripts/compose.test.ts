import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

// No Docker engine runs here, so `docker compose config` runs in the hosted workflow; this checks the file's intent.
const compose = parse(readFileSync(new URL("../docker-compose.yml", import.meta.url), "utf8"), {
  merge: true,
}) as {
  services: Record<
    string,
    { image?: string; command?: string[]; deploy?: { replicas?: number }; build?: string }
  >;
};

describe("docker-compose.yml", () => {
  it("runs the whole fleet from one image, a one-shot migration, and two workers", () => {
    const s = compose.services;
    expect(Object.keys(s).sort()).toEqual(["dashboard", "ingress", "migrate", "postgres", "redis", "worker"]);
    expect(s.postgres?.image).toBe("postgres:16");
    expect(s.redis?.image).toBe("redis:7");
    for (const part of ["migrate", "ingress", "worker", "dashboard"]) {
      expect(s[part]?.image).toBe("heidrun:local");
      expect(s[part]?.command).toEqual([part]);
    }
    expect(s.worker?.deploy?.replicas).toBe(2);
  });

  it("gives the queue's Redis the durability Heidrun checks at start", () => {
    const command = compose.services.redis?.command?.join(" ") ?? "";
    expect(command).toContain("--appendonly yes");
    expect(command).toContain("--appendfsync always");
    expect(command).toContain("--maxmemory-policy noeviction");
  });
});
