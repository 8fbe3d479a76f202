import { randomUUID } from "node:crypto";
import { type handleUnaryCall, type ServerUnaryCall, type sendUnaryData, status } from "@grpc/grpc-js";
import { DomainError } from "@heidrun/core";
import type { Logger } from "@heidrun/observability";
import { type Authenticator, authorize } from "./auth";
import type { CallContext, Handler } from "./context";
import { type CallFailure, toCallFailure } from "./errors";
import type { RpcMetrics } from "./metrics";
import type { ValidationContext } from "./validation";

/** A request that could not be decoded; the deserializer returns it instead of throwing (grpc-js would say INTERNAL). */
export class UndecodableRequest {
  constructor(readonly error: unknown) {}
}

export interface MethodInfo {
  /** `heidrun.v1.TokenService/TrackTokens`: the label of logs and metrics. */
  fullName: string;
  /** `TokenService.TrackTokens`: how messages to callers name the method. */
  displayName: string;
  adminOnly: boolean;
}

export interface CallLimits {
  /** Calls without a deadline, or with a later one, end at this many ms after arrival. */
  maxDeadlineMs: number;
  validation: ValidationContext;
}

export interface AdapterDeps {
  log: Logger;
  metrics: RpcMetrics;
  authenticator: Authenticator;
  /** Read per call, so a settings reload applies to the next call. */
  limits: () => CallLimits;
  inflight: InflightCalls;
}

/** Counts unary calls in progress so shutdown can wait for them. */
export class InflightCalls {
  #count = 0;
  #waiters: Array<() => void> = [];

  get count(): number {
    return this.#count;
  }

  begin(): void {
    this.#count++;
  }

  end(): void {
    this.#count--;
    if (this.#count === 0) for (const wake of this.#waiters.splice(0)) wake();
  }

  drained(): Promise<void> {
    return this.#count === 0 ? Promise.resolve() : new Promise((resolve) => this.#waiters.push(resolve));
  }
}

const LOGGABLE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function requestIdOf(request: unknown): string | undefined {
  const value = (request as { requestId?: unknown } | null)?.requestId;
  return typeof value === "string" && LOGGABLE_ID.test(value) ? value : undefined;
}

const DEADLINE_EXCEEDED = Symbol("deadline exceeded");
// setTimeout fires at once for delays above 2^31 - 1 ms.
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Wraps a promise-returning handler into a grpc-js unary handler: authenticate, authorize, validate, run
 * under the effective deadline, map errors, then one log line and the metrics for the call.
 */
export function adaptUnary<Req, Res>(
  info: MethodInfo,
  handler: Handler<Req, Res>,
  validate: (request: Req, ctx: ValidationContext) => void,
  deps: AdapterDeps,
): handleUnaryCall<Req, Res> {
  // Bound once per method: prom-client would otherwise hash the label set on every call.
  const latency = deps.metrics.latency.labels({ method: info.fullName });
  const callsByCode = new Map<string, { inc(): void }>();
  const countCall = (code: string) => {
    let counter = callsByCode.get(code);
    if (counter === undefined) {
      counter = deps.metrics.calls.labels({ method: info.fullName, code });
      callsByCode.set(code, counter);
    }
    counter.inc();
  };
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    deps.inflight.begin();
    const started = performance.now();
    const request = call.request as Req | UndecodableRequest;
    const requestId = requestIdOf(request);
    const correlationId = requestId ?? randomUUID();
    const bindings = { method: info.fullName, request_id: correlationId };
    // The child logger and the abort signal are made only for a handler that asks for them: most calls
    // (quotes from the price cache) use neither, and both cost more than the rest of the call's bookkeeping.
    let log: Logger | undefined;
    const callLog = () => {
      log ??= deps.log.child(bindings);
      return log;
    };
    const limits = deps.limits();
    let abort: AbortController | undefined;
    let abortReason: DomainError | undefined;
    const cancel = (reason: DomainError) => {
      abortReason ??= reason;
      abort?.abort(reason);
    };
    const onCancelled = () => cancel(new DomainError("UNAVAILABLE", "the caller cancelled the call"));
    const signal = () => {
      if (abort === undefined) {
        abort = new AbortController();
        // A caller that cancelled before the handler asked had no listener to hear it: grpc-js remembers.
        if (abortReason === undefined && call.cancelled) onCancelled();
        if (abortReason) abort.abort(abortReason);
        else call.on("cancelled", onCancelled);
      }
      return abort.signal;
    };

    const clientDeadline = Number(call.getDeadline());
    const deadlineMs = Math.min(clientDeadline, Date.now() + limits.maxDeadlineMs);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<typeof DEADLINE_EXCEEDED>((resolve) => {
      timer = setTimeout(
        () => {
          cancel(new DomainError("UNAVAILABLE", "deadline exceeded"));
          resolve(DEADLINE_EXCEEDED);
        },
        Math.min(deadlineMs - Date.now(), MAX_TIMER_MS),
      );
    });

    let keyId: string | undefined;
    const run = async (): Promise<Res | typeof DEADLINE_EXCEEDED> => {
      if (request instanceof UndecodableRequest) {
        throw new DomainError("INVALID_ARGUMENT", "request: not a valid protobuf message for this method");
      }
      const principal = deps.authenticator.authenticate(call.metadata);
      keyId = principal.keyId;
      authorize(principal, info.adminOnly, info.displayName);
      validate(request, limits.validation);
      const ctx: CallContext = {
        ...(requestId === undefined ? {} : { requestId }),
        principal,
        ...(Number.isFinite(deadlineMs) ? { deadline: new Date(deadlineMs) } : {}),
        get log() {
          return callLog();
        },
        get signal() {
          return signal();
        },
      };
      return Promise.race([handler(request, ctx), expired]);
    };

    const finish = (code: status, failure?: Pick<CallFailure, "details" | "unexpected">) => {
      clearTimeout(timer);
      if (abort !== undefined) call.off("cancelled", onCancelled);
      const seconds = (performance.now() - started) / 1000;
      const codeName = status[code] ?? String(code);
      countCall(codeName);
      latency.observe(seconds);
      const timing = { code: codeName, duration_ms: Math.round(seconds * 1e6) / 1e3, key_id: keyId };
      // Through the child when the handler made one (its bindings are in it), else with the bindings inline.
      const out = log ?? deps.log;
      const line = log ? timing : { ...bindings, ...timing };
      if (failure?.unexpected !== undefined) out.error({ ...line, err: failure.unexpected }, "rpc failed");
      else out.info(failure ? { ...line, details: failure.details } : line, "rpc");
      deps.inflight.end();
    };

    run().then(
      (response) => {
        if (response === DEADLINE_EXCEEDED) {
          const failure = { code: status.DEADLINE_EXCEEDED, details: "deadline exceeded" };
          callback(failure);
          finish(failure.code, failure);
          return;
        }
        callback(null, response);
        finish(status.OK);
      },
      (error: unknown) => {
        const failure = toCallFailure(error, correlationId);
        callback(failure);
        finish(failure.code, failure);
      },
    );
  };
}
