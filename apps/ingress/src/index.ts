export { ANONYMOUS_PRINCIPAL, createAuthenticator } from "./auth";
export type * from "./context";
export { GRPC_STATUS_BY_CODE, toCallFailure } from "./errors";
export { createIngressDeps, type OwnedIngressDeps, type RunIngressOptions, runIngress } from "./run";
export { createIngress, type Ingress, MAX_RECEIVE_MESSAGE_BYTES } from "./server";
export { ADMIN_METHODS } from "./services";
export {
  requestValidators,
  type ValidationContext,
  validatePriceConfig,
  validateTrackTokensRequest,
} from "./validation";
