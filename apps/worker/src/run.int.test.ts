import { configStoreFor } from "@heidrun/config";
import { useTestContext } from "@heidrun/testing";
import { describe, expect, it } from "vitest";
import { runWorker } from "./run";

const ctx = useTestContext();

async function until(condition: () => Promise<boolean>): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("condition not met within 10 s");
}

describe("runWorker", () => {
  it("runs the expiry sweeper: an overdue hold is released without any other call", async () => {
    const { pool } = ctx();
    await pool.query(
      "INSERT INTO accounts (account_id, balance_micros, held_micros) VALUES ('acct-run', 1000, 400)",
    );
    await pool.query(
      `INSERT INTO preauths (preauth_id, request_id, fingerprint, account_id, provider_id, model, status, held_micros,
         estimated_cost_micros, estimated_input_tokens, max_output_tokens, available_micros, price_version, actor, expires_at)
       VALUES ('pa_run', 'req-run', 'fp', 'acct-run', 'prov', 'm', 'pending', 400, 400, 10, 10, 600, 1, 'test',
               now() - interval '1 second')`,
    );
    const config = configStoreFor(ctx(), {
      queue: { prefix: ctx().redisPrefix },
      preauth: { sweepIntervalMs: 100 },
      redis: { durabilityCheck: "off" },
      metrics: { workerPort: 0 },
    });
    let stop!: (value: string) => void;
    const stopSignal = new Promise<string>((resolve) => {
      stop = resolve;
    });
    const running = runWorker(config, { stopSignal });
    try {
      await until(async () => {
        const { rows } = await pool.query("SELECT status FROM preauths WHERE preauth_id = 'pa_run'");
        return rows[0]?.status === "expired";
      });
      const account = await pool.query("SELECT held_micros FROM accounts WHERE account_id = 'acct-run'");
      expect(account.rows[0].held_micros).toBe(0n);
      const audit = await pool.query(
        "SELECT count(*) AS n FROM audit_events WHERE event_type = 'preauth.expired'",
      );
      expect(audit.rows[0].n).toBe(1n);
    } finally {
      stop("test done");
      await running;
    }
  });
});
