export * from "./env";
export * from "./load";
export * from "./schema";
