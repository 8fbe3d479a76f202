import { Writable } from "node:stream";
import { createLogger } from "@heidrun/observability";
import { useTestContext } from "@heidrun/testing";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  formFields,
  insertFailedSettlement,
  postRerun,
  startTestDashboard,
  type TestDashboard,
} from "./test-support";

/**
 * Dashboard replicas behind one load balancer: a form served by one replica is posted to another. Behind the
 * balancer both see its host in Origin and Host; here each POST carries the origin of the replica it reaches.
 */
const ctx = useTestContext();
const SHARED_SECRET = "replicas-share-this-csrf-secret-0123456789";
const OTHER_SECRET = "another-deployment-csrf-secret-0123456789";
const REASON = "no price for provider acme, model m-9";
const started: TestDashboard[] = [];

async function replica(options: Parameters<typeof startTestDashboard>[1] = {}): Promise<TestDashboard> {
  const dashboard = await startTestDashboard(ctx(), options);
  started.push(dashboard);
  return dashboard;
}

/** Posts the rerun form that `from` served to `to`; answers the status. */
async function formFromTo(from: TestDashboard, to: TestDashboard): Promise<number> {
  const { csrf, requestId } = await formFields(from.url);
  const response = await postRerun(
    to.url,
    { reason: REASON, request_id: requestId, csrf },
    { origin: to.url },
  );
  return response.status;
}

beforeAll(async () => {
  await insertFailedSettlement(ctx().pool, {
    requestId: "f-replica",
    providerId: "acme",
    model: "m-9",
    reason: REASON,
  });
});
afterEach(async () => {
  await Promise.all(started.splice(0).map((dashboard) => dashboard.close()));
});

describe("HEIDRUN_DASHBOARD_CSRF_SECRET", () => {
  it("lets replicas with the same secret accept each other's forms", async () => {
    const a = await replica({ csrfSecret: SHARED_SECRET });
    const b = await replica({ csrfSecret: SHARED_SECRET });
    expect(await formFromTo(a, b)).toBe(303);
    expect(await formFromTo(b, a)).toBe(303);
    expect(await b.producer.queue.getJobState("req~f-replica~r1")).toBe("waiting");
  });

  it("refuses a form signed with another secret, or by a replica that drew its own", async () => {
    const a = await replica({ csrfSecret: SHARED_SECRET });
    const other = await replica({ csrfSecret: OTHER_SECRET });
    expect(await formFromTo(a, other)).toBe(403);
    expect(await formFromTo(other, a)).toBe(403);
    const unsetOne = await replica();
    const unsetTwo = await replica();
    expect(await formFromTo(unsetOne, unsetTwo)).toBe(403);
    expect(await formFromTo(unsetOne, unsetOne)).toBe(303);
  });

  it("warns at start when unset, and not when set", async () => {
    const warnings: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).trim().split("\n")) {
          const entry = JSON.parse(line) as { level: number; msg: string };
          if (entry.level === 40) warnings.push(entry.msg);
        }
        done();
      },
    });
    const log = createLogger({ name: "dashboard", destination });
    await replica({ log, csrfSecret: SHARED_SECRET });
    expect(warnings).toEqual([]);
    await replica({ log });
    expect(warnings).toEqual([
      "HEIDRUN_DASHBOARD_CSRF_SECRET is not set: this dashboard signs its forms with a key of its own, so " +
        "replicas behind one load balancer refuse each other's forms; give every replica the same secret",
    ]);
  });
});
