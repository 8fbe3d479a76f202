import { experimental, ServerCredentials } from "@grpc/grpc-js";
import type { Settings } from "@heidrun/config";
import {
  type CertificateSummary,
  type Logger,
  summarizeCertificate,
  type TlsMaterial,
  TlsMaterialWatcher,
  type TransportMode,
} from "@heidrun/observability";

type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

/**
 * Feeds grpc-js the certificate, key and CA of a TlsMaterialWatcher, and the new ones whenever the files
 * change: grpc-js then calls `setSecureContext` on its listening socket, so new connections get the new
 * certificate while the server and its open connections carry on.
 */
export class WatchedCertificateProvider implements experimental.CertificateProvider {
  readonly #identity = new Set<IdentityListener>();
  readonly #ca = new Set<CaListener>();

  constructor(readonly watcher: TlsMaterialWatcher) {
    watcher.on("reload", (material) => {
      for (const listener of this.#identity) listener(identityOf(material));
      for (const listener of this.#ca) listener(caOf(material));
    });
  }

  // grpc-js reads the credentials' context before it registers for updates, and registers right after:
  // the first value must arrive on a later tick, as its own FileWatcherCertificateProvider does.
  addIdentityCertificateListener(listener: IdentityListener): void {
    this.#identity.add(listener);
    process.nextTick(() => this.#identity.has(listener) && listener(identityOf(this.watcher.current)));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.#identity.delete(listener);
  }

  addCaCertificateListener(listener: CaListener): void {
    this.#ca.add(listener);
    process.nextTick(() => this.#ca.has(listener) && listener(caOf(this.watcher.current)));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.#ca.delete(listener);
  }
}

function identityOf(material: TlsMaterial): experimental.IdentityCertificateUpdate {
  return { certificate: material.cert, privateKey: material.key };
}

function caOf(material: TlsMaterial): experimental.CaCertificateUpdate | null {
  return material.ca ? { caCertificate: material.ca } : null;
}

export interface TransportSecurity {
  mode: TransportMode;
  credentials: ServerCredentials;
  /** The served certificate, for the start log (undefined in plaintext). */
  certificate: CertificateSummary | undefined;
  /** Re-reads the files on change; its "reload" event fires after the server switched (undefined in plaintext). */
  watcher: TlsMaterialWatcher | undefined;
  /** Stops watching the files. */
  close(): void;
}

/**
 * Server credentials for settings.tls: plaintext, TLS (server certificate), or mutual TLS (client
 * certificates required and verified against the CA bundle). Reads the files now, so a bad path or PEM
 * fails the start; afterwards their contents are re-read when they change.
 */
export function createTransportSecurity(tls: Settings["tls"], log: Logger): TransportSecurity {
  if (tls.mode === "plaintext") {
    return {
      mode: "plaintext",
      credentials: ServerCredentials.createInsecure(),
      certificate: undefined,
      watcher: undefined,
      close() {},
    };
  }
  if (!tls.certFile || !tls.keyFile)
    throw new Error(`tls.mode ${tls.mode} needs tls.certFile and tls.keyFile`);
  const mutual = tls.mode === "mtls";
  const watcher = new TlsMaterialWatcher(
    { certFile: tls.certFile, keyFile: tls.keyFile, caFile: mutual ? tls.caFile : undefined },
    tls.reloadCheckIntervalMs,
  );
  watcher.on("reload", (material) =>
    log.info(
      { certificate: summarizeCertificate(material.cert) },
      "TLS certificate files changed: now serving these",
    ),
  );
  watcher.on("error", (error) =>
    log.error(
      { err: error },
      "TLS certificate files changed but cannot be used: still serving the previous ones",
    ),
  );
  const provider = new WatchedCertificateProvider(watcher.start());
  // grpc-js names the first parameter "caCertificateProvider" but uses it as the identity provider.
  const credentials = experimental.createCertificateProviderServerCredentials(
    provider,
    mutual ? provider : null,
    mutual,
  );
  return {
    mode: tls.mode,
    credentials,
    certificate: summarizeCertificate(watcher.current.cert),
    watcher,
    close: () => watcher.close(),
  };
}

/** The start log says which transport is on; plaintext loudly, since keys and usage then cross the wire in clear. */
export function announceTransport(log: Logger, transport: TransportSecurity): void {
  if (transport.mode === "plaintext") {
    log.warn(
      "TLS IS OFF: the gRPC port is PLAINTEXT (settings tls.mode), API keys and usage travel unencrypted; use only on loopback or for local development",
    );
    return;
  }
  log.info(
    { transport: transport.mode, certificate: transport.certificate },
    transport.mode === "mtls"
      ? "gRPC over mutual TLS: client certificates required and verified"
      : "gRPC over TLS (no client certificates)",
  );
}
