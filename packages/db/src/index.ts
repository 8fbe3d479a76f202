export * from "./audit";
export * from "./migrate";
export * from "./pool";
export * from "./price-cache";
export * from "./price-import";
export * from "./prices";
export * from "./schema";
export * as schema from "./schema";
