import { type QueueConnection, SETTLEMENT_QUEUE } from "@heidrun/queue";
import type { Queue } from "bullmq";
import { Cluster } from "ioredis";

/**
 * The names of every BullMQ queue under the prefix (each keeps a `<prefix>:<name>:meta` hash), with the
 * settlement queue always among them so a fresh Redis still shows it. SCAN sees one server's keys, so on a
 * Cluster every master is scanned.
 */
export async function discoverQueueNames(redis: QueueConnection, prefix: string): Promise<string[]> {
  const names = new Set<string>([SETTLEMENT_QUEUE]);
  const head = `${prefix}:`;
  const pattern = `${prefix.replace(/[*?[\]\\]/g, "\\$&")}:*:meta`;
  for (const server of redis instanceof Cluster ? redis.nodes("master") : [redis]) {
    let cursor = "0";
    do {
      const [next, keys] = await server.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      for (const key of keys) names.add(key.slice(head.length, -":meta".length));
      cursor = next;
    } while (cursor !== "0");
  }
  return [...names].sort();
}

export interface QueueDepth {
  name: string;
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  completed: number;
  paused: boolean;
  oldestWaiting: { jobId: string; enqueuedAt: Date } | null;
}

export async function queueDepth(queue: Queue): Promise<QueueDepth> {
  const [counts, oldest, paused] = await Promise.all([
    queue.getJobCounts("waiting", "active", "delayed", "failed", "completed"),
    // New jobs go on the left of the wait list; ascending order starts at the oldest.
    queue.getJobs(["wait"], 0, 0, true),
    queue.isPaused(),
  ]);
  const first = oldest[0];
  return {
    name: queue.name,
    waiting: counts.waiting ?? 0,
    active: counts.active ?? 0,
    delayed: counts.delayed ?? 0,
    failed: counts.failed ?? 0,
    completed: counts.completed ?? 0,
    paused,
    oldestWaiting: first?.id ? { jobId: first.id, enqueuedAt: new Date(first.timestamp) } : null,
  };
}
