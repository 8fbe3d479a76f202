import type {
  Metadata,
  MethodDefinition,
  Server,
  ServiceDefinition,
  UntypedHandleCall,
  UntypedServiceImplementation,
} from "@grpc/grpc-js";
import type { Authenticator } from "./auth";
import { toCallFailure } from "./errors";

interface OpenStream {
  readonly metadata: Metadata;
  on(event: "cancelled" | "finish" | "close", listener: () => void): unknown;
  emit(event: "error", error: unknown): boolean;
  end(): unknown;
}

/**
 * The streaming calls of the health and reflection services (Watch, ServerReflectionInfo) last as long as the
 * client wants, so a graceful shutdown would wait for them forever. They are tracked here and ended by
 * `endAll()` once the unary calls have finished.
 */
export class OpenStreams {
  #open = new Set<OpenStream>();

  get size(): number {
    return this.#open.size;
  }

  track(call: OpenStream): void {
    this.#open.add(call);
    const forget = () => this.#open.delete(call);
    call.on("cancelled", forget);
    call.on("finish", forget);
    call.on("close", forget);
  }

  endAll(): void {
    for (const call of this.#open) call.end();
    this.#open.clear();
  }
}

export interface StreamGuardOptions {
  streams: OpenStreams;
  /** Given: streaming calls need a valid key (reflection). Omitted: open to all (health). */
  authenticator?: Authenticator;
}

/**
 * An `addService` that wraps the streaming methods of a library-provided service (health, reflection) to
 * track them for shutdown and, optionally, to require an API key before the library's handler runs.
 */
export function guardStreams(
  server: Pick<Server, "addService">,
  options: StreamGuardOptions,
): Pick<Server, "addService"> {
  return {
    addService(definition: ServiceDefinition, implementation: UntypedServiceImplementation) {
      const wrapped: Record<string, UntypedHandleCall> = { ...implementation };
      for (const [name, method] of Object.entries(definition) as [
        string,
        MethodDefinition<unknown, unknown>,
      ][]) {
        if (!method.responseStream) continue;
        const key = name in implementation ? name : (method.originalName ?? name);
        const original = implementation[key] as ((call: OpenStream) => void) | undefined;
        if (!original) continue;
        wrapped[key] = ((call: OpenStream) => {
          if (options.authenticator) {
            try {
              options.authenticator.authenticate(call.metadata);
            } catch (error) {
              const { code, details } = toCallFailure(error, "reflection");
              call.emit("error", { code, details });
              return;
            }
          }
          options.streams.track(call);
          original(call);
        }) as UntypedHandleCall;
      }
      server.addService(definition, wrapped);
    },
  };
}
