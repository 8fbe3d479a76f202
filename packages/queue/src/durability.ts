import { Cluster, type Redis } from "ioredis";
import type { QueueConnection } from "./connection";

export interface DurabilityReport {
  ok: boolean;
  /** Each setting that could lose an acknowledged job, with what it is and what it should be. */
  problems: string[];
}

const REQUIRED: { name: string; expected: string; why: string }[] = [
  { name: "appendonly", expected: "yes", why: "without the AOF a restart loses every queued job" },
  {
    name: "appendfsync",
    expected: "always",
    why: "anything else may lose up to a second of acknowledged jobs on a crash",
  },
  { name: "maxmemory-policy", expected: "noeviction", why: "an evicting policy silently drops queued jobs" },
];

/** One server's settings; managed Redis services that forbid CONFIG GET are reported, not assumed safe. */
async function serverProblems(redis: Redis): Promise<string[]> {
  const problems: string[] = [];
  for (const setting of REQUIRED) {
    let actual: string | undefined;
    try {
      const reply = (await redis.config("GET", setting.name)) as string[];
      actual = reply[1];
    } catch (error) {
      problems.push(
        `${setting.name}: cannot be read (${(error as Error).message}); it must be ${setting.expected}`,
      );
      continue;
    }
    if (actual !== setting.expected) {
      problems.push(`${setting.name} is ${actual ?? "unset"}, must be ${setting.expected}: ${setting.why}`);
    }
  }
  return problems;
}

/**
 * Reads the settings of the queue's Redis: on a Cluster those of every master (each problem names its node),
 * once the Cluster knows its masters.
 */
export async function checkRedisDurability(redis: QueueConnection): Promise<DurabilityReport> {
  let problems: string[];
  if (redis instanceof Cluster) {
    // Waits like a command would (connection errors are retried, not thrown): masters are known once ready.
    if (redis.status !== "ready") await new Promise((resolve) => redis.once("ready", resolve));
    const perNode = await Promise.all(
      redis.nodes("master").map(async (node) => {
        const name = `${node.options.host}:${node.options.port}`;
        return (await serverProblems(node)).map((problem) => `${name}: ${problem}`);
      }),
    );
    problems = perNode.flat();
  } else {
    problems = await serverProblems(redis);
  }
  return { ok: problems.length === 0, problems };
}

export type DurabilityPolicy = "refuse" | "warn" | "off";

/**
 * Applies the `redis.durabilityCheck` setting at start: refuse throws, warn logs every problem loudly,
 * off says once that the check is off.
 */
export async function enforceRedisDurability(
  redis: QueueConnection,
  policy: DurabilityPolicy,
  log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void },
): Promise<DurabilityReport> {
  if (policy === "off") {
    log.warn({}, "Redis durability check is off: acknowledged jobs may be lost on a Redis crash");
    return { ok: true, problems: [] };
  }
  const report = await checkRedisDurability(redis);
  if (report.ok) return report;
  const message = `Redis may lose acknowledged jobs: ${report.problems.join("; ")}`;
  if (policy === "refuse") {
    log.error({ problems: report.problems }, message);
    throw new Error(
      `${message}. Fix the Redis settings, or set redis.durabilityCheck to "warn" to run anyway.`,
    );
  }
  log.warn({ problems: report.problems }, `${message}. Continuing because redis.durabilityCheck is "warn".`);
  return report;
}
