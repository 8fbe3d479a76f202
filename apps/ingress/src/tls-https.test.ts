import { once } from "node:events";
import { createServer, request, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { parseSettings } from "@heidrun/config";
import { loadHttpsOptions } from "@heidrun/observability";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type IssuedCertificate, makeTestCertificates, type TestCertificates } from "./tls-test-certs";

// loadHttpsOptions lives in @heidrun/observability for the dashboard; its certificates are made here.
let certs: TestCertificates;
let server1: IssuedCertificate;
let server2: IssuedCertificate;
let client: IssuedCertificate;

beforeAll(() => {
  certs = makeTestCertificates();
  server1 = certs.issue("dash-1", "/CN=dashboard-1", certs.caA, "server");
  server2 = certs.issue("dash-2", "/CN=dashboard-2", certs.caA, "server");
  client = certs.issue("operator", "/CN=operator", certs.caA, "client");
});
afterAll(() => certs.remove());

async function listen(server: Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as AddressInfo).port;
}

function get(
  port: number,
  withClientCert: boolean,
): Promise<{ status: number | undefined; servedCn: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        servername: "localhost",
        port,
        path: "/",
        ca: certs.caA.certPem,
        agent: false,
        ...(withClientCert ? { cert: client.certPem, key: client.keyPem } : {}),
      },
      (res) => {
        const servedCn = (res.socket as import("node:tls").TLSSocket).getPeerCertificate().subject.CN;
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode, servedCn }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe("loadHttpsOptions (dashboard HTTPS)", () => {
  it("is plaintext unless configured", () => {
    expect(loadHttpsOptions(parseSettings({}).tls).options).toBeUndefined();
  });

  it("serves mTLS with the gRPC port's files and swaps the certificate when they change", async () => {
    const live = { cert: `${certs.dir}/dash-live.crt`, key: `${certs.dir}/dash-live.key` };
    certs.rotate(live, server1);
    const tls = parseSettings({
      tls: {
        certFile: live.cert,
        keyFile: live.key,
        caFile: certs.caA.cert,
        reloadCheckIntervalMs: 20,
        dashboard: { mode: "mtls" },
      },
    }).tls;
    const https = loadHttpsOptions(tls);
    const server = createServer(https.options ?? {}, (_req, res) => res.end("ok"));
    const events: string[] = [];
    let reloaded!: () => void;
    const reload = new Promise<void>((resolve) => {
      reloaded = resolve;
    });
    const stopWatching = https.watch(server, (event) => {
      events.push(event.reloaded ? `reloaded ${event.reloaded.subject}` : "error");
      if (event.reloaded) reloaded();
    });
    const port = await listen(server);
    try {
      expect(await get(port, true)).toEqual({ status: 200, servedCn: "dashboard-1" });
      await expect(get(port, false)).rejects.toThrow();

      certs.rotate(live, server2);
      await reload;
      expect(await get(port, true)).toEqual({ status: 200, servedCn: "dashboard-2" });
      expect(events.at(-1)).toBe("reloaded CN=dashboard-2");
    } finally {
      stopWatching();
      server.close();
    }
  });
});
