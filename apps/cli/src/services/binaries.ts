import { existsSync, readdirSync } from "node:fs";
import { delimiter, join } from "node:path";

export interface ServerBinaries {
  initdb: string;
  pgCtl: string;
  redisServer: string;
}

export interface BinarySearch {
  /** The PATH to search (the process's PATH by default). */
  path: string;
  /** Where Debian keeps PostgreSQL's server binaries, which are not on PATH there. */
  postgresRoots: string[];
}

function onPath(name: string, path: string): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

function inPostgresRoots(name: string, roots: string[]): string | undefined {
  for (const root of roots) {
    if (!existsSync(root)) continue;
    const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
    for (const version of versions) {
      const candidate = join(root, version, "bin", name);
      if (existsSync(candidate)) return candidate;
    }
  }
  return undefined;
}

export const INSTALL_GUIDANCE = [
  "Private services need the PostgreSQL and Redis server binaries, and some were not found.",
  "Install them, then run the same command again:",
  "  Debian/Ubuntu:  sudo apt-get install postgresql redis-server",
  "  macOS:          brew install postgresql@16 redis",
  "Or run them in Docker and point Heidrun at them:",
  "  docker compose up -d postgres redis",
  "  DATABASE_URL=postgres://postgres:heidrun@127.0.0.1:5432/heidrun REDIS_URL=redis://127.0.0.1:6379 npm start",
].join("\n");

/** Finds initdb, pg_ctl and redis-server, or explains exactly what to install. */
export function findServerBinaries(search: BinarySearch): ServerBinaries {
  const find = (name: string) => onPath(name, search.path) ?? inPostgresRoots(name, search.postgresRoots);
  const initdb = find("initdb");
  const pgCtl = find("pg_ctl");
  const redisServer = onPath("redis-server", search.path);
  const missing = [!initdb && "initdb", !pgCtl && "pg_ctl", !redisServer && "redis-server"].filter(Boolean);
  if (!initdb || !pgCtl || !redisServer) {
    throw new Error(`missing: ${missing.join(", ")}\n${INSTALL_GUIDANCE}`);
  }
  return { initdb, pgCtl, redisServer };
}
