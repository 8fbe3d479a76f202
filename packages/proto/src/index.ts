import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export { Any } from "./gen/google/protobuf/any";
export { Timestamp } from "./gen/google/protobuf/timestamp";
export { BadRequest, BadRequest_FieldViolation } from "./gen/google/rpc/error_details";
// Renamed so it cannot be mistaken for grpc-js's `status` enum.
export { Status as RpcStatus } from "./gen/google/rpc/status";
export * from "./gen/heidrun/v1/account";
export * from "./gen/heidrun/v1/common";
export * from "./gen/heidrun/v1/preauth";
export * from "./gen/heidrun/v1/pricing";
export * from "./gen/heidrun/v1/settlement";
export * from "./gen/heidrun/v1/token";

/** `buf build` output for proto/ (imports included): what server reflection serves. */
export const descriptorSetPath: string = fileURLToPath(new URL("../descriptor.binpb", import.meta.url));

export function readDescriptorSet(): Buffer {
  return readFileSync(descriptorSetPath);
}

/** Fully qualified names of the Heidrun services, as health checks and reflection name them. */
export const HEIDRUN_SERVICE_NAMES = [
  "heidrun.v1.TokenService",
  "heidrun.v1.PricingService",
  "heidrun.v1.SettlementService",
  "heidrun.v1.PreAuthService",
  "heidrun.v1.AccountService",
] as const;
