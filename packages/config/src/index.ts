export * from "./config-store-for";
export * from "./env";
export * from "./load";
export * from "./redis-cluster";
export * from "./schema";
