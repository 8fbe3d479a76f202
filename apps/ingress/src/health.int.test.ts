import { type ClientReadableStream, credentials, makeGenericClientConstructor } from "@grpc/grpc-js";
import { HEIDRUN_SERVICE_NAMES } from "@heidrun/proto";
import { type PrivateRedis, startPrivateRedis } from "@heidrun/testing";
import { service as healthService } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestIngress, type TestIngress } from "./test-harness";

interface HealthClient {
  Check(
    request: { service: string },
    callback: (error: Error | null, response: { status: string }) => void,
  ): void;
  Watch(request: { service: string }): ClientReadableStream<{ status: string }>;
  close(): void;
}

describe("health follows Postgres and Redis", () => {
  let redis: PrivateRedis;
  let t: TestIngress;
  let client: HealthClient;
  const check = (service: string) =>
    new Promise<string>((resolve, reject) =>
      client.Check({ service }, (error, response) => (error ? reject(error) : resolve(response.status))),
    );

  beforeAll(async () => {
    redis = await startPrivateRedis(["--appendonly", "no"]);
    t = await startTestIngress({
      redisUrl: redis.url,
      settings: { ingress: { healthCheckIntervalMs: 100 } },
    });
    const Health = makeGenericClientConstructor(healthService, "Health");
    client = new Health(t.address, credentials.createInsecure()) as unknown as HealthClient;
  });
  afterAll(async () => {
    client?.close();
    await t?.close();
    await redis?.destroy();
  });

  it("reports SERVING for the server and every service while both answer", async () => {
    const statuses = await Promise.all(["", ...HEIDRUN_SERVICE_NAMES].map(check));
    expect(statuses).toEqual(Array(6).fill("SERVING"));
  });

  it("flips to NOT_SERVING while Redis is down and back to SERVING when it returns", async () => {
    const watch = client.Watch({ service: "" });
    watch.on("error", () => {}); // the cancel() at the end
    const seen: string[] = [];
    const waitFor = (wanted: string) =>
      new Promise<void>((resolve) => {
        const onData = (message: { status: string }) => {
          seen.push(message.status);
          if (message.status === wanted) {
            watch.off("data", onData);
            resolve();
          }
        };
        watch.on("data", onData);
      });

    await waitFor("SERVING");
    const down = waitFor("NOT_SERVING");
    await redis.stop(true);
    await down;
    expect(await check("heidrun.v1.PreAuthService")).toBe("NOT_SERVING");

    const up = waitFor("SERVING");
    await redis.restart();
    await up;
    expect(await check("heidrun.v1.TokenService")).toBe("SERVING");
    expect(seen).toEqual(["SERVING", "NOT_SERVING", "SERVING"]);
    watch.cancel();
  });
});
