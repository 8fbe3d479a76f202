import { EventEmitter } from "node:events";
import { type FSWatcher, readFileSync, watch } from "node:fs";
import { basename, dirname } from "node:path";
import type { z } from "zod";
import { type EnvSettings, envSchema } from "./env";
import { clusterPrefixProblems, type RedisNode } from "./redis-cluster";
import { type ApiKey, type Settings, settingsSchema } from "./schema";

export interface Config {
  databaseUrl: string;
  redisUrl: string;
  /** HEIDRUN_REDIS_CLUSTER_NODES: empty for one Redis at redisUrl, else the Cluster every Redis use goes to. */
  redisClusterNodes: RedisNode[];
  grpcAddr: string;
  dashboardAddr: string;
  /** HEIDRUN_INGRESS_METRICS_PORT; undefined: settings.metrics.ingressPort. */
  ingressMetricsPort: number | undefined;
  /** Which listeners the environment placed (`heidrun start` moves only the others off a taken port). */
  listenersFromEnvironment: { grpcAddr: boolean; dashboardAddr: boolean; ingressMetricsPort: boolean };
  /** HEIDRUN_DASHBOARD_CSRF_SECRET: undefined lets each dashboard process draw a key of its own. */
  dashboardCsrfSecret: string | undefined;
  apiKeys: ApiKey[];
  configFile: string | undefined;
  /**
   * Whether DATABASE_URL, REDIS_URL or HEIDRUN_REDIS_CLUSTER_NODES was given (HEIDRUN_SERVICES=auto then uses
   * them as they are).
   */
  servicesFromEnvironment: boolean;
  services: EnvSettings["HEIDRUN_SERVICES"];
  logLevel: EnvSettings["HEIDRUN_LOG_LEVEL"];
  settings: Settings;
}

/** Thrown when settings are invalid; `problems` names every bad setting and why. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid configuration in ${source}:\n  - ${problems.join("\n  - ")}`);
  }
}

function describeIssues(error: z.ZodError, prefix = ""): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join(".");
    return `${prefix}${path || "(root)"}: ${issue.message}`;
  });
}

export function parseEnv(env: Record<string, string | undefined>): EnvSettings {
  const relevant = Object.fromEntries(
    Object.keys(envSchema.shape).map((name) => [name, env[name] || undefined]),
  );
  const result = envSchema.safeParse(relevant);
  if (!result.success) throw new ConfigError("environment", describeIssues(result.error));
  return result.data;
}

export function parseSettings(raw: unknown, source = "settings"): Settings {
  const result = settingsSchema.safeParse(raw ?? {});
  if (!result.success) throw new ConfigError(source, describeIssues(result.error));
  return result.data;
}

export function readSettingsFile(file: string): Settings {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(file, [`cannot read: ${(error as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(file, [`not valid JSON: ${(error as Error).message}`]);
  }
  return parseSettings(raw, file);
}

export interface ConfigStoreEvents {
  change: [next: Config, previous: Config];
  rejected: [error: ConfigError];
}

/**
 * Holds the settings in force. Environment values are fixed at start; the settings file may change and is
 * re-read when it does: a valid file replaces the settings, an invalid one is reported and ignored.
 */
export class ConfigStore extends EventEmitter<ConfigStoreEvents> {
  #config: Config;
  #watcher: FSWatcher | undefined;

  constructor(initial: Config) {
    super();
    this.#config = initial;
  }

  current(): Config {
    return this.#config;
  }

  /** Re-reads the settings file; returns whether the new settings were applied. */
  reload(): boolean {
    const file = this.#config.configFile;
    if (!file) return false;
    try {
      const settings = readSettingsFile(file);
      refuseClusterPrefixProblems(this.#config.redisClusterNodes, settings, file);
      const previous = this.#config;
      this.#config = { ...previous, settings };
      this.emit("change", this.#config, previous);
      return true;
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      this.emit("rejected", error);
      return false;
    }
  }

  /** Watches the settings file's directory, so editors that replace the file by rename are seen too. */
  watch(): void {
    const file = this.#config.configFile;
    if (!file || this.#watcher) return;
    const name = basename(file);
    this.#watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
      if (changed === null || changed === name) this.reload();
    });
  }

  close(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
    this.removeAllListeners();
  }
}

/** Settings that cannot work with the environment: a queue prefix without a hash tag on a Redis Cluster. */
export function refuseClusterPrefixProblems(
  nodes: readonly RedisNode[],
  settings: Settings,
  source: string,
): void {
  const problems = clusterPrefixProblems(nodes, settings.queue.prefix);
  if (problems.length > 0) throw new ConfigError(source, problems);
}

/** The only reader of the process environment: call it once at start with `process.env`. */
export function loadConfig(env: Record<string, string | undefined>, file?: string): ConfigStore {
  const parsed = parseEnv(env);
  const configFile = file ?? parsed.HEIDRUN_CONFIG;
  const settings = configFile ? readSettingsFile(configFile) : parseSettings({});
  refuseClusterPrefixProblems(parsed.HEIDRUN_REDIS_CLUSTER_NODES, settings, configFile ?? "settings");
  return new ConfigStore({
    databaseUrl: parsed.DATABASE_URL,
    redisUrl: parsed.REDIS_URL,
    redisClusterNodes: parsed.HEIDRUN_REDIS_CLUSTER_NODES,
    grpcAddr: parsed.HEIDRUN_GRPC_ADDR,
    dashboardAddr: parsed.HEIDRUN_DASHBOARD_ADDR,
    ingressMetricsPort: parsed.HEIDRUN_INGRESS_METRICS_PORT,
    listenersFromEnvironment: {
      grpcAddr: Boolean(env.HEIDRUN_GRPC_ADDR),
      dashboardAddr: Boolean(env.HEIDRUN_DASHBOARD_ADDR),
      ingressMetricsPort: Boolean(env.HEIDRUN_INGRESS_METRICS_PORT),
    },
    dashboardCsrfSecret: parsed.HEIDRUN_DASHBOARD_CSRF_SECRET,
    apiKeys: parsed.HEIDRUN_API_KEYS,
    configFile,
    servicesFromEnvironment: Boolean(
      env.DATABASE_URL || env.REDIS_URL || parsed.HEIDRUN_REDIS_CLUSTER_NODES.length > 0,
    ),
    services: parsed.HEIDRUN_SERVICES,
    logLevel: parsed.HEIDRUN_LOG_LEVEL,
    settings,
  });
}

/** Settings that only take effect at start; the store keeps them but a change needs a restart. */
export const RESTART_REQUIRED = [
  "DATABASE_URL",
  "REDIS_URL",
  "HEIDRUN_REDIS_CLUSTER_NODES",
  "HEIDRUN_GRPC_ADDR",
  "HEIDRUN_DASHBOARD_ADDR",
  "HEIDRUN_INGRESS_METRICS_PORT",
  "HEIDRUN_DASHBOARD_CSRF_SECRET",
  "HEIDRUN_API_KEYS",
  "HEIDRUN_SERVICES",
  "queue.prefix",
] as const;
