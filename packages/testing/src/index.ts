export * from "./fixture";
export * from "./services";
export * from "./vitest";
export * from "./redis-server";
