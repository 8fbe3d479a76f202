import { rmSync } from "node:fs";
import { dirname } from "node:path";
import type { TestProject } from "vitest/node";
import { buildPostgresTemplate } from "./harness/postgres";

declare module "vitest" {
  export interface ProvidedContext {
    postgresTemplate: string;
  }
}

/** One initdb and one migration for the whole run; each scenario file copies the result. */
export default async function setup(project: TestProject): Promise<() => void> {
  const template = await buildPostgresTemplate();
  project.provide("postgresTemplate", template);
  return () => rmSync(dirname(template), { recursive: true, force: true });
}
