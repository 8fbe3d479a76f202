import { credentials, makeGenericClientConstructor, status } from "@grpc/grpc-js";
import { AccountServiceClient, Balance, GetBalanceRequest } from "@heidrun/proto";
import { service as healthService } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CallContext } from "./context";
import {
  ADMIN_KEY,
  bearer,
  failure,
  startTestIngress,
  type TestIngress,
  unary,
  YGGDRASIL_KEY,
} from "./test-harness";
import { type IssuedCertificate, makeTestCertificates, type TestCertificates } from "./tls-test-certs";

let certs: TestCertificates;
let server: IssuedCertificate;
let yggdrasil: IssuedCertificate;
let intruder: IssuedCertificate;
let t: TestIngress;
const seen: CallContext[] = [];

beforeAll(async () => {
  certs = makeTestCertificates();
  server = certs.issue("server", "/CN=heidrun/O=Heidrun", certs.caA, "server");
  yggdrasil = certs.issue("yggdrasil", "/CN=yggdrasil/O=Heidrun", certs.caA, "client");
  intruder = certs.issue("intruder", "/CN=intruder/O=Heidrun", certs.caA, "client");
  t = await startTestIngress({
    settings: {
      tls: {
        mode: "mtls",
        certFile: server.cert,
        keyFile: server.key,
        caFile: certs.caA.cert,
        keySubjects: { [YGGDRASIL_KEY.id]: "CN=yggdrasil, O=Heidrun" },
      },
    },
    handlerOverrides: {
      account: {
        getBalance: async (request: GetBalanceRequest, ctx: CallContext) => {
          seen.push(ctx);
          return { balance: Balance.fromPartial({ accountId: request.accountId, currency: "USD" }) };
        },
      },
    },
  });
});
afterAll(async () => {
  await t?.close();
  certs.remove();
});

function accountClient(client: IssuedCertificate): AccountServiceClient {
  return new AccountServiceClient(
    t.address,
    credentials.createSsl(certs.caA.certPem, client.keyPem, client.certPem),
    NAME_OVERRIDE,
  );
}

/** The test certificates name 127.0.0.1 and localhost; SNI takes a host name only. */
const NAME_OVERRIDE = { "grpc.ssl_target_name_override": "localhost" };
const request = GetBalanceRequest.fromPartial({ accountId: "acct-1" });

describe("the ingress over mutual TLS with a key bound to a certificate subject", () => {
  it("serves the bound key with its certificate and tells the handler who called", async () => {
    seen.length = 0;
    const client = accountClient(yggdrasil);
    const response = await unary(client.getBalance.bind(client), request, bearer(YGGDRASIL_KEY));
    client.close();
    expect(response.balance?.accountId).toBe("acct-1");
    expect(seen.map((ctx) => ctx.principal)).toEqual([{ keyId: YGGDRASIL_KEY.id, scope: "yggdrasil" }]);
  });

  it("refuses the bound key with another client's certificate as PERMISSION_DENIED", async () => {
    seen.length = 0;
    const client = accountClient(intruder);
    const error = await failure(unary(client.getBalance.bind(client), request, bearer(YGGDRASIL_KEY)));
    client.close();
    expect({ code: error.code, details: error.details }).toEqual({
      code: status.PERMISSION_DENIED,
      details: `API key ${YGGDRASIL_KEY.id} may not be used with the client certificate CN=intruder, O=Heidrun`,
    });
    expect(seen).toEqual([]);
  });

  it("lets a key without a binding be used with any certificate of the CA", async () => {
    const client = accountClient(intruder);
    const response = await unary(client.getBalance.bind(client), request, bearer(ADMIN_KEY));
    client.close();
    expect(response.balance?.accountId).toBe("acct-1");
  });

  it("refuses plaintext and certificate-less clients at the handshake", async () => {
    const plain = new AccountServiceClient(t.address, credentials.createInsecure());
    const noCert = new AccountServiceClient(
      t.address,
      credentials.createSsl(certs.caA.certPem),
      NAME_OVERRIDE,
    );
    const errors = await Promise.all(
      [plain, noCert].map((client) =>
        failure(unary(client.getBalance.bind(client), request, bearer(ADMIN_KEY))),
      ),
    );
    plain.close();
    noCert.close();
    expect(errors.map((error) => error.code)).toEqual([status.UNAVAILABLE, status.UNAVAILABLE]);
  });

  it("answers health checks over mutual TLS", async () => {
    const Health = makeGenericClientConstructor(healthService, "Health");
    const health = new Health(
      t.address,
      credentials.createSsl(certs.caA.certPem, yggdrasil.keyPem, yggdrasil.certPem),
      NAME_OVERRIDE,
    ) as unknown as {
      Check(request: object, callback: (error: Error | null, response: { status: string }) => void): void;
      close(): void;
    };
    const response = await new Promise<{ status: string }>((resolve, reject) =>
      health.Check({ service: "heidrun.v1.TokenService" }, (error, value) =>
        error ? reject(error) : resolve(value),
      ),
    );
    health.close();
    expect(response.status).toBe("SERVING");
  });
});
