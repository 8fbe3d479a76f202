export * from "./logger";
export * from "./metrics";
export * from "./metrics-server";
export * from "./process-logger";
export * from "./tls";
export * from "./tracing";
export * from "./tracing-batch";
export * from "./tracing-clients";
