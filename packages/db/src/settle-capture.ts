import { sql } from "drizzle-orm";
import type { DbOrTx } from "./pool";
import { utcIso } from "./settle-sql";
import type { CaptureSettleItem, SettleCandidate } from "./settle-types";

interface CapturedPreauthRow extends Record<string, unknown> {
  preauth_id: string;
  account_id: string;
  provider_id: string;
  model: string;
  status: string;
  capture_request_id: string | null;
  captured_input_tokens: bigint | null;
  captured_output_tokens: bigint | null;
  captured_cached_input_tokens: bigint | null;
  captured_cache_write_tokens: bigint | null;
  captured_at: string | null;
  price_version: bigint;
  price_version_id: bigint | null;
}

export type CaptureResolution = { ok: true; candidate: SettleCandidate } | { ok: false; reason: string };

/**
 * What a settle-capture job settles, read from its pre-auth: the capture (written there before the capture
 * was acknowledged) under the capture's request_id, the pre-auth's account, provider and model, and the pinned
 * price version. The capture left its cost held; settling charges it and releases that hold (settle-sql).
 */
export async function loadCaptureCandidates(
  tx: DbOrTx,
  items: readonly CaptureSettleItem[],
): Promise<Map<string, CaptureResolution>> {
  const resolutions = new Map<string, CaptureResolution>();
  if (items.length === 0) return resolutions;
  const ids = [...new Set(items.map((item) => item.preauthId))];
  const result = await tx.execute<CapturedPreauthRow>(sql`
    SELECT preauth_id, account_id, provider_id, model, status, capture_request_id, captured_input_tokens,
      captured_output_tokens, captured_cached_input_tokens, captured_cache_write_tokens,
      ${utcIso("captured_at")} AS captured_at,
      price_version, price_version_id
    FROM preauths WHERE preauth_id = ANY(${sql.param(ids)}::text[])`);
  const byId = new Map(result.rows.map((row) => [row.preauth_id, row]));
  for (const item of items) {
    const row = byId.get(item.preauthId);
    if (!row) {
      resolutions.set(item.requestId, { ok: false, reason: `pre-auth ${item.preauthId} not found` });
      continue;
    }
    if (
      row.capture_request_id !== item.requestId ||
      row.captured_input_tokens === null ||
      row.captured_output_tokens === null ||
      row.captured_at === null
    ) {
      resolutions.set(item.requestId, {
        ok: false,
        reason: `pre-auth ${item.preauthId} (status ${row.status}) has no capture under request ${item.requestId}`,
      });
      continue;
    }
    resolutions.set(item.requestId, {
      ok: true,
      candidate: {
        requestId: item.requestId,
        accountId: row.account_id,
        providerId: row.provider_id,
        model: row.model,
        preauthId: row.preauth_id,
        usage: {
          inputTokens: row.captured_input_tokens,
          outputTokens: row.captured_output_tokens,
          cachedInputTokens: row.captured_cached_input_tokens ?? 0n,
          cacheWriteTokens: row.captured_cache_write_tokens ?? 0n,
        },
        occurredAt: new Date(row.captured_at),
        actor: item.actor,
        pinned: { version: row.price_version, id: row.price_version_id },
      },
    });
  }
  return resolutions;
}
