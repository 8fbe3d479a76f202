export * from "./fixture";
export * from "./redis-server";
export * from "./services";
export * from "./vitest";
