export * from "./fixture";
export * from "./services";
export * from "./vitest";
