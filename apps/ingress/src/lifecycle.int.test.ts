import {
  type ClientDuplexStream,
  type ClientReadableStream,
  credentials,
  type GrpcObject,
  loadPackageDefinition,
  type Metadata,
  makeGenericClientConstructor,
  type ServiceClientConstructor,
  status,
} from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { Balance, GetBalanceRequest, HEIDRUN_SERVICE_NAMES } from "@heidrun/proto";
import { service as healthService } from "grpc-health-check";
import { describe, expect, it } from "vitest";
import { reflectionProtoPath } from "./reflection";
import { ADMIN_KEY, bearer, failure, startTestIngress, unary } from "./test-harness";

function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function watchHealth(address: string): {
  statuses: string[];
  first: Promise<void>;
  ended: Promise<void>;
  close(): void;
} {
  const Health = makeGenericClientConstructor(healthService, "Health");
  const client = new Health(address, credentials.createInsecure()) as unknown as {
    Watch(request: { service: string }): ClientReadableStream<{ status: string }>;
    close(): void;
  };
  const statuses: string[] = [];
  const stream = client.Watch({ service: "" });
  const first = new Promise<void>((resolve) => stream.once("data", () => resolve()));
  stream.on("data", (message) => statuses.push(message.status));
  const ended = new Promise<void>((resolve) => {
    stream.on("error", () => resolve());
    stream.on("end", () => resolve());
  });
  return { statuses, first, ended, close: () => client.close() };
}

describe("graceful shutdown", () => {
  it("stops accepting, finishes the in-flight call, ends health watches, then stops", async () => {
    const entered = deferred();
    const release = deferred();
    const t = await startTestIngress({
      handlerOverrides: {
        account: {
          getBalance: async (request) => {
            entered.resolve();
            await release.promise;
            return { balance: Balance.fromPartial({ accountId: request.accountId, balanceMicros: 42n }) };
          },
        },
      },
    });
    const watch = watchHealth(t.address);
    const balance = unary(
      t.clients.account.getBalance.bind(t.clients.account),
      GetBalanceRequest.fromPartial({ accountId: "acct-slow" }),
    );
    await Promise.all([entered.promise, watch.first]);

    let stopped = false;
    const stopping = t.ingress.stop().then(() => {
      stopped = true;
    });
    const { clients: late } = t;
    const refused = await failure(
      unary(
        late.account.getBalance.bind(late.account),
        GetBalanceRequest.fromPartial({ accountId: "acct-late" }),
      ),
    );
    expect(refused.code).toBe(status.UNAVAILABLE);
    expect(stopped).toBe(false);

    release.resolve();
    expect((await balance).balance?.balanceMicros).toBe(42n);
    await stopping;
    await watch.ended;
    expect(watch.statuses).toEqual(["SERVING", "NOT_SERVING"]);
    watch.close();
    await t.close();
  });

  it("closes calls still running when the grace period is over", async () => {
    const entered = deferred();
    const t = await startTestIngress({
      settings: { ingress: { shutdownGraceMs: 100 } },
      handlerOverrides: {
        account: {
          getBalance: async () => {
            entered.resolve();
            return new Promise<never>(() => {});
          },
        },
      },
    });
    const stuck = failure(
      unary(
        t.clients.account.getBalance.bind(t.clients.account),
        GetBalanceRequest.fromPartial({ accountId: "a" }),
      ),
    );
    await entered.promise;
    await t.ingress.stop();
    expect([status.UNAVAILABLE, status.CANCELLED, status.INTERNAL]).toContain((await stuck).code);
    await t.close();
  });
});

interface ReflectionResponse {
  listServicesResponse?: { service: { name: string }[] };
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
  errorResponse?: { errorCode: number };
}

function reflect(address: string, request: object, metadata: Metadata): Promise<ReflectionResponse> {
  const loaded = loadPackageDefinition(loadSync(reflectionProtoPath())) as GrpcObject;
  const v1 = ((loaded.grpc as GrpcObject).reflection as GrpcObject).v1 as GrpcObject;
  const Reflection = v1.ServerReflection as ServiceClientConstructor;
  const client = new Reflection(address, credentials.createInsecure()) as unknown as {
    ServerReflectionInfo(metadata: Metadata): ClientDuplexStream<object, ReflectionResponse>;
    close(): void;
  };
  return new Promise((resolve, reject) => {
    const stream = client.ServerReflectionInfo(metadata);
    stream.on("data", (response: ReflectionResponse) => {
      resolve(response);
      stream.end();
    });
    stream.on("error", reject);
    stream.on("end", () => client.close());
    stream.write(request);
  }).finally(() => client.close()) as Promise<ReflectionResponse>;
}

describe("server reflection", () => {
  it("lists every service and describes the contract, to callers with a key", async () => {
    const t = await startTestIngress();
    const listed = await reflect(t.address, { listServices: "" }, bearer(ADMIN_KEY));
    expect(listed.listServicesResponse?.service.map((s) => s.name).sort()).toEqual(
      [...HEIDRUN_SERVICE_NAMES, "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"].sort(),
    );
    const described = await reflect(
      t.address,
      { fileContainingSymbol: "heidrun.v1.PreAuthService" },
      bearer(ADMIN_KEY),
    );
    expect(described.fileDescriptorResponse?.fileDescriptorProto.length).toBeGreaterThan(0);
    const anonymous = await reflect(t.address, { listServices: "" }, bearer(undefined)).catch(
      (error) => error,
    );
    expect(anonymous.code).toBe(status.UNAUTHENTICATED);
    await t.close();
  });
});
