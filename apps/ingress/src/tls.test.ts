import { once } from "node:events";
import { connect as tlsConnect } from "node:tls";
import {
  type ChannelCredentials,
  credentials,
  makeGenericClientConstructor,
  Server,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import { type ConfigError, parseSettings } from "@heidrun/config";
import { silentLogger } from "@heidrun/observability";
import { HealthImplementation, service as healthService } from "grpc-health-check";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTransportSecurity, type TransportSecurity } from "./tls";
import { type IssuedCertificate, makeTestCertificates, type TestCertificates } from "./tls-test-certs";

let certs: TestCertificates;
let server1: IssuedCertificate;
let server2: IssuedCertificate;
let yggdrasil: IssuedCertificate;
let stranger: IssuedCertificate;

beforeAll(() => {
  certs = makeTestCertificates();
  server1 = certs.issue("server-1", "/CN=heidrun-1/O=Heidrun", certs.caA, "server");
  server2 = certs.issue("server-2", "/CN=heidrun-2/O=Heidrun", certs.caA, "server");
  yggdrasil = certs.issue("yggdrasil", "/CN=yggdrasil/O=Heidrun", certs.caA, "client");
  stranger = certs.issue("stranger", "/CN=yggdrasil/O=Heidrun", certs.caB, "client");
});
afterAll(() => certs.remove());

interface Running {
  port: number;
  transport: TransportSecurity;
  stop(): Promise<void>;
}

const running: Running[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.stop();
});

/** A grpc-js server with only the health service, on the transport the settings describe. */
async function serve(tls: Record<string, unknown>): Promise<Running> {
  const transport = createTransportSecurity(
    parseSettings({ tls: { reloadCheckIntervalMs: 20, ...tls } }).tls,
    silentLogger(),
  );
  const server = new Server();
  new HealthImplementation({ "": "SERVING" }).addToServer(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", transport.credentials, (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  const r: Running = {
    port,
    transport,
    async stop() {
      transport.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    },
  };
  running.push(r);
  return r;
}

const Health = makeGenericClientConstructor(healthService, "Health");
/** The test certificates name 127.0.0.1 and localhost; SNI takes a host name only. */
const NAME_OVERRIDE = { "grpc.ssl_target_name_override": "localhost" };
type HealthClient = {
  Check(request: object, callback: (error: ServiceError | null, value: { status: string }) => void): void;
  close(): void;
};

function healthClient(port: number, channel: ChannelCredentials): HealthClient {
  return new Health(`127.0.0.1:${port}`, channel, NAME_OVERRIDE) as unknown as HealthClient;
}

function check(client: HealthClient): Promise<string> {
  return new Promise((resolve, reject) =>
    client.Check({ service: "" }, (error, value) => (error ? reject(error) : resolve(value.status))),
  );
}

async function refusal(call: Promise<unknown>): Promise<number | undefined> {
  try {
    await call;
  } catch (error) {
    return (error as ServiceError).code;
  }
  throw new Error("expected the call to be refused, it succeeded");
}

/** What a fresh TLS connection is served: subject CN and serial of the server certificate. */
async function servedCertificate(port: number): Promise<{ cn: string | undefined; serial: string }> {
  const socket = tlsConnect({
    host: "127.0.0.1",
    port,
    servername: "localhost",
    ca: certs.caA.certPem,
    ALPNProtocols: ["h2"],
  });
  await once(socket, "secureConnect");
  const cert = socket.getPeerCertificate();
  socket.destroy();
  return { cn: cert.subject.CN as string | undefined, serial: cert.serialNumber };
}

describe("gRPC transport security", () => {
  it("plaintext: insecure clients are served", async () => {
    const { port, transport } = await serve({ mode: "plaintext" });
    expect(transport.mode).toBe("plaintext");
    const plain = healthClient(port, credentials.createInsecure());
    expect(await check(plain)).toBe("SERVING");
    plain.close();
  });

  it("tls: handshake with the served certificate and a call", async () => {
    const { port, transport } = await serve({ mode: "tls", certFile: server1.cert, keyFile: server1.key });
    expect({ mode: transport.mode, subject: transport.certificate?.subject }).toEqual({
      mode: "tls",
      subject: "CN=heidrun-1, O=Heidrun",
    });
    const client = healthClient(port, credentials.createSsl(certs.caA.certPem));
    expect(await check(client)).toBe("SERVING");
    client.close();
    const untrusting = healthClient(port, credentials.createSsl(certs.caB.certPem));
    expect(await refusal(check(untrusting))).toBe(status.UNAVAILABLE);
    untrusting.close();
  });

  it("mtls: a client certificate from the configured CA is required", async () => {
    const { port } = await serve({
      mode: "mtls",
      certFile: server1.cert,
      keyFile: server1.key,
      caFile: certs.caA.cert,
    });
    const withCert = healthClient(
      port,
      credentials.createSsl(certs.caA.certPem, yggdrasil.keyPem, yggdrasil.certPem),
    );
    expect(await check(withCert)).toBe("SERVING");
    withCert.close();

    const withoutCert = healthClient(port, credentials.createSsl(certs.caA.certPem));
    expect(await refusal(check(withoutCert))).toBe(status.UNAVAILABLE);
    withoutCert.close();

    const otherCa = healthClient(
      port,
      credentials.createSsl(certs.caA.certPem, stranger.keyPem, stranger.certPem),
    );
    expect(await refusal(check(otherCa))).toBe(status.UNAVAILABLE);
    otherCa.close();
  });

  it("a rotated certificate is served to new connections without a restart", async () => {
    const live = { cert: `${certs.dir}/live.crt`, key: `${certs.dir}/live.key` };
    certs.rotate(live, server1);
    const { port, transport } = await serve({ mode: "tls", certFile: live.cert, keyFile: live.key });
    const before = await servedCertificate(port);
    const client = healthClient(port, credentials.createSsl(certs.caA.certPem));
    expect(await check(client)).toBe("SERVING");

    const reloaded = once(transport.watcher!, "reload");
    certs.rotate(live, server2);
    await reloaded;

    const after = await servedCertificate(port);
    expect({ before: before.cn, after: after.cn, serialChanged: after.serial !== before.serial }).toEqual({
      before: "heidrun-1",
      after: "heidrun-2",
      serialChanged: true,
    });
    // The connection opened before the rotation carries on, on the same server and port.
    expect(await check(client)).toBe("SERVING");
    client.close();
  });

  it("unusable new files are ignored: the previous certificate stays", async () => {
    const live = { cert: `${certs.dir}/live2.crt`, key: `${certs.dir}/live2.key` };
    certs.rotate(live, server1);
    const { port, transport } = await serve({ mode: "tls", certFile: live.cert, keyFile: live.key });
    const failed = once(transport.watcher!, "error");
    // A key that does not belong to the certificate (a rotation caught half-way).
    certs.rotate(live, { ...server2, certPem: server1.certPem });
    const [error] = (await failed) as [Error];
    expect(error.message).toMatch(/^unusable TLS files .*key values mismatch/);
    expect((await servedCertificate(port)).cn).toBe("heidrun-1");
  });
});

describe("tls settings", () => {
  const problems = (tls: Record<string, unknown>) => {
    try {
      parseSettings({ tls });
      return [];
    } catch (error) {
      return (error as ConfigError).problems;
    }
  };

  it("names the files a mode needs and refuses key bindings without mutual TLS", () => {
    expect(problems({ mode: "mtls", certFile: "/c" })).toEqual([
      "tls.keyFile: is required when mode is mtls",
      "tls.caFile: is required when mode is mtls",
    ]);
    expect(
      problems({ mode: "tls", certFile: "/c", keyFile: "/k", keySubjects: { ygg00001: "CN=y" } }),
    ).toEqual([
      "tls.keySubjects: binding keys to certificate subjects needs mode mtls (no client certificate otherwise)",
    ]);
    expect(problems({ dashboard: { mode: "tls" } })).toEqual([
      "tls.dashboard.certFile: is required when mode is tls",
      "tls.dashboard.keyFile: is required when mode is tls",
    ]);
  });

  it("defaults to plaintext, with the dashboard falling back to the gRPC port's files", () => {
    expect(parseSettings({}).tls.mode).toBe("plaintext");
    expect(problems({ mode: "tls", certFile: "/c", keyFile: "/k", dashboard: { mode: "tls" } })).toEqual([]);
  });
});
