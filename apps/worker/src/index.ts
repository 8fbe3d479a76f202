export * from "./metrics";
export * from "./processors";
export * from "./run";
export * from "./settle-runner";
export * from "./worker";
