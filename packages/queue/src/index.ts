export * from "./catalog";
export * from "./connection";
export * from "./errors";
export * from "./producer";
export * from "./durability";
