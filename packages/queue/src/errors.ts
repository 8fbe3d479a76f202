import { DomainError } from "@heidrun/core";

/** Redis failures become the contract's statuses: full memory is backpressure, anything else is unavailability. */
export function redisFailure(error: unknown, what: string): DomainError {
  const message = error instanceof Error ? error.message : String(error);
  if (/OOM|maxmemory/i.test(message)) {
    return new DomainError("RESOURCE_EXHAUSTED", `${what}: the queue is full, retry later`, { cause: error });
  }
  return DomainError.unavailable(`${what}: the queue is unavailable, retry with the same request_id`, error);
}
