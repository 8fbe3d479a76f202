import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { Server } from "@grpc/grpc-js";
import { loadFileDescriptorSetFromBuffer, loadSync, type PackageDefinition } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { readDescriptorSet } from "@heidrun/proto";
import { protoPath as healthProtoPath } from "grpc-health-check";

const require = createRequire(import.meta.url);

/** The reflection v1 proto shipped inside @grpc/reflection, so reflection can describe itself too. */
export function reflectionProtoPath(): string {
  return join(dirname(require.resolve("@grpc/reflection")), "../proto/grpc/reflection/v1/reflection.proto");
}

/**
 * Everything reflection describes: the Heidrun contract from the committed descriptor set (packages/proto,
 * `buf build`), plus the health and reflection services so `grpcurl list` shows all that the server serves.
 */
export function reflectedPackages(): PackageDefinition {
  const options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };
  return {
    ...loadFileDescriptorSetFromBuffer(readDescriptorSet(), options),
    ...loadSync(healthProtoPath, options),
    ...loadSync(reflectionProtoPath(), options),
  };
}

export function addReflection(server: Pick<Server, "addService">): void {
  new ReflectionService(reflectedPackages()).addToServer(server);
}
