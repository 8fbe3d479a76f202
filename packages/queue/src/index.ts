export * from "./batcher";
export * from "./catalog";
export * from "./connection";
export * from "./durability";
export * from "./errors";
export * from "./producer";
