import { fileURLToPath } from "node:url";
import type { Config } from "@heidrun/config";
import { postgresAnswers } from "@heidrun/db";
import { redisAnswers } from "@heidrun/queue";
import { type BinarySearch, findServerBinaries } from "./binaries";
import { startPrivateServices } from "./private";

export interface FleetServices {
  mode: "external" | "private";
  databaseUrl: string;
  redisUrl: string;
  /** One line for the start log: which services and why. */
  reason: string;
  /** Private mode: where PostgreSQL keeps its data. */
  postgresData?: string;
  /** Stops what was started (nothing for external services). */
  stop(): Promise<void>;
}

/** Private services keep their data here; git ignores `.heidrun/`. */
export const PRIVATE_SERVICES_DIR = fileURLToPath(new URL("../../../../.heidrun/services", import.meta.url));

export const DEFAULT_BINARY_SEARCH = (path: string): BinarySearch => ({
  path,
  postgresRoots: ["/usr/lib/postgresql"],
});

/**
 * HEIDRUN_SERVICES: `external` uses the URLs as given; `private` starts PostgreSQL and Redis of its own;
 * `auto` is external when the URLs were set or the defaults answer, private otherwise.
 */
export async function resolveFleetServices(
  config: Config,
  options: { search: BinarySearch; dir?: string },
): Promise<FleetServices> {
  const external = (reason: string): FleetServices => ({
    mode: "external",
    databaseUrl: config.databaseUrl,
    redisUrl: config.redisUrl,
    reason,
    stop: async () => {},
  });
  if (config.services === "external")
    return external("HEIDRUN_SERVICES=external: using DATABASE_URL and REDIS_URL");
  if (config.services === "auto") {
    if (config.servicesFromEnvironment)
      return external("auto: DATABASE_URL/REDIS_URL/HEIDRUN_REDIS_CLUSTER_NODES are set, using them");
    const [pgUp, redisUp] = await Promise.all([
      postgresAnswers(config.databaseUrl, 1500),
      redisAnswers(config.redisUrl, 1500),
    ]);
    if (pgUp && redisUp)
      return external("auto: PostgreSQL and Redis answer at the default addresses, using them");
  }
  if (config.redisClusterNodes.length > 0) {
    // Every process would talk to the Cluster, not to the Redis started here.
    throw new Error(
      "HEIDRUN_SERVICES=private starts a Redis of its own, but HEIDRUN_REDIS_CLUSTER_NODES points every process at a Cluster: unset one of them",
    );
  }
  const binaries = findServerBinaries(options.search);
  const dir = options.dir ?? PRIVATE_SERVICES_DIR;
  const started = await startPrivateServices(binaries, dir);
  const elsewhere = started.postgresData.startsWith(dir)
    ? ""
    : ` (PostgreSQL's data in ${started.postgresData}: the postgres user cannot enter ${dir})`;
  return {
    mode: "private",
    databaseUrl: started.databaseUrl,
    redisUrl: started.redisUrl,
    postgresData: started.postgresData,
    reason: `${config.services === "private" ? "HEIDRUN_SERVICES=private" : "auto: nothing answers at the defaults"}: started private PostgreSQL and Redis under ${dir}${elsewhere}`,
    stop: started.stop,
  };
}
