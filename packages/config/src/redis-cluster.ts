import type { z } from "zod";

/** One seed node of a Redis Cluster; ioredis finds the others from it. */
export interface RedisNode {
  host: string;
  port: number;
}

/** host:port, with an IPv6 host in brackets (`[::1]:7000`). */
const NODE = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/;

/** HEIDRUN_REDIS_CLUSTER_NODES: `host:port` seed nodes separated by commas; every bad entry is an issue. */
export function parseRedisClusterNodes(raw: string, ctx: z.RefinementCtx): RedisNode[] {
  const nodes: RedisNode[] = [];
  let bad = 0;
  for (const [index, entry] of raw.split(",").entries()) {
    const trimmed = entry.trim();
    if (trimmed === "") continue;
    const match = NODE.exec(trimmed);
    const port = Number(match?.[3]);
    if (!match || port < 1 || port > 65_535) {
      ctx.addIssue({
        code: "custom",
        message: `entry ${index + 1} (${JSON.stringify(trimmed)}) must be host:port with a port from 1 to 65535`,
      });
      bad++;
      continue;
    }
    nodes.push({ host: match[1] ?? match[2] ?? "", port });
  }
  if (nodes.length === 0 && bad === 0) {
    ctx.addIssue({ code: "custom", message: "names no node: give host:port,host:port" });
  }
  return nodes;
}

/**
 * Whether Redis Cluster hashes every key under this prefix to one slot: a `{…}` with at least one character
 * inside, Redis taking the first `{` and the first `}` after it.
 */
export function hasHashTag(prefix: string): boolean {
  return /^[^{]*\{[^}]+\}/.test(prefix);
}

/** What is wrong with a queue prefix on a Redis Cluster (nothing when no cluster nodes are given). */
export function clusterPrefixProblems(nodes: readonly RedisNode[], prefix: string): string[] {
  if (nodes.length === 0 || hasHashTag(prefix)) return [];
  return [
    `queue.prefix: ${JSON.stringify(prefix)} has no hash tag such as {heidrun}; HEIDRUN_REDIS_CLUSTER_NODES is ` +
      "set, and BullMQ on a Redis Cluster needs every key of a queue (and the idempotency keys) in one slot",
  ];
}
