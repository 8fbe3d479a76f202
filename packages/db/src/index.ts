export * from "./migrate";
export * from "./pool";
export * from "./schema";
export * as schema from "./schema";
