export * from "./app";
export * from "./auth";
export * from "./bull-board";
export * from "./health";
export * from "./overview-page";
export * from "./queues";
export * from "./run";
