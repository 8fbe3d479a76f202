export { freePort } from "@heidrun/observability";
export * from "./fixture";
export * from "./redis-cluster";
export * from "./redis-server";
export * from "./services";
export * from "./vitest";
