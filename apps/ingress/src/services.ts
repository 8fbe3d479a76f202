import type {
  MethodDefinition,
  Server,
  ServiceDefinition,
  UntypedServiceImplementation,
} from "@grpc/grpc-js";
import {
  AccountServiceService,
  PreAuthServiceService,
  PricingServiceService,
  SettlementServiceService,
  TokenServiceService,
} from "@heidrun/proto";
import { type AdapterDeps, adaptUnary, UndecodableRequest } from "./adapter";
import type { Handler, IngressDeps, IngressHandlers } from "./context";
import { createAccountHandlers } from "./handlers/account";
import { createPreAuthHandlers } from "./handlers/preauth";
import { createPricingHandlers } from "./handlers/pricing";
import { createSettlementHandlers } from "./handlers/settlement";
import { createTokenHandlers } from "./handlers/token";
import { requestValidators, type ValidationContext } from "./validation";

/** Methods that need a key with the admin scope (spec: "(admin)"). */
export const ADMIN_METHODS: ReadonlySet<string> = new Set([
  "heidrun.v1.PricingService/SetPricingConfig",
  "heidrun.v1.SettlementService/RerunFailedSettlements",
  "heidrun.v1.AccountService/SetCreditLimit",
]);

interface ServiceEntry {
  key: keyof IngressHandlers;
  definition: ServiceDefinition;
  create: (deps: IngressDeps) => IngressHandlers[keyof IngressHandlers];
}

export const HEIDRUN_SERVICES: readonly ServiceEntry[] = [
  { key: "token", definition: TokenServiceService, create: createTokenHandlers },
  { key: "pricing", definition: PricingServiceService, create: createPricingHandlers },
  { key: "settlement", definition: SettlementServiceService, create: createSettlementHandlers },
  { key: "preauth", definition: PreAuthServiceService, create: createPreAuthHandlers },
  { key: "account", definition: AccountServiceService, create: createAccountHandlers },
];

type AnyHandler = Handler<unknown, unknown>;
type AnyValidator = (request: unknown, ctx: ValidationContext) => void;

/** grpc-js answers INTERNAL when decoding throws; this hands the adapter a marker to answer INVALID_ARGUMENT. */
function tolerantDeserialize(method: MethodDefinition<unknown, unknown>): MethodDefinition<unknown, unknown> {
  const decode = method.requestDeserialize;
  return {
    ...method,
    requestDeserialize: (bytes: Buffer) => {
      try {
        return decode(bytes);
      } catch (error) {
        return new UndecodableRequest(error);
      }
    },
  };
}

/** Registers the five Heidrun services, each method wrapped by the adapter (auth, validation, errors, metrics). */
export function addHeidrunServices(
  server: Pick<Server, "addService">,
  deps: IngressDeps,
  adapter: AdapterDeps,
): void {
  for (const entry of HEIDRUN_SERVICES) {
    const handlers = { ...entry.create(deps), ...deps.handlerOverrides?.[entry.key] } as Record<
      string,
      AnyHandler
    >;
    const validators = requestValidators[entry.key] as Record<string, AnyValidator>;
    const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
    const implementation: UntypedServiceImplementation = {};
    for (const [name, method] of Object.entries(entry.definition)) {
      const fullName = method.path.slice(1);
      const [qualifiedService = "", rpc = ""] = fullName.split("/");
      const displayName = `${qualifiedService.slice(qualifiedService.lastIndexOf(".") + 1)}.${rpc}`;
      const handler = handlers[name];
      const validate = validators[name];
      if (!handler || !validate) throw new Error(`no handler or validator for ${fullName}`);
      definition[name] = tolerantDeserialize(method);
      implementation[name] = adaptUnary(
        { fullName, displayName, adminOnly: ADMIN_METHODS.has(fullName) },
        handler,
        validate,
        adapter,
      );
    }
    server.addService(definition as ServiceDefinition, implementation);
  }
}
