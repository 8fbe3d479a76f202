import { X509Certificate } from "node:crypto";
import { EventEmitter } from "node:events";
import { readFileSync, unwatchFile, watchFile } from "node:fs";
import type { ServerOptions as HttpsServerOptions } from "node:https";
import { createSecureContext, type SecureContextOptions } from "node:tls";

export type TransportMode = "plaintext" | "tls" | "mtls";

/** One listener's files (paths from the settings). */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** CA bundle client certificates must chain to (mutual TLS). */
  caFile?: string | undefined;
}

/** The PEM contents of TlsFiles, checked to form a usable context (key matches certificate). */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
}

export interface CertificateSummary {
  subject: string;
  serialNumber: string;
  validTo: string;
  fingerprint256: string;
}

function read(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new Error(`cannot read the TLS ${what} file ${path}: ${(error as Error).message}`);
  }
}

/** Reads and checks the files; throws naming the file and the problem (unreadable, not PEM, key mismatch). */
export function readTlsMaterial(files: TlsFiles): TlsMaterial {
  const material: TlsMaterial = {
    cert: read(files.certFile, "certificate"),
    key: read(files.keyFile, "private key"),
    ...(files.caFile ? { ca: read(files.caFile, "CA bundle") } : {}),
  };
  try {
    createSecureContext({ cert: material.cert, key: material.key, ca: material.ca });
    new X509Certificate(material.cert);
  } catch (error) {
    throw new Error(
      `unusable TLS files (certificate ${files.certFile}, key ${files.keyFile}${files.caFile ? `, CA ${files.caFile}` : ""}): ${(error as Error).message}`,
    );
  }
  return material;
}

/** What the logs say about a served certificate (never the key). */
export function summarizeCertificate(pem: Buffer): CertificateSummary {
  const cert = new X509Certificate(pem);
  return {
    subject: cert.subject.replaceAll("\n", ", "),
    serialNumber: cert.serialNumber,
    validTo: cert.validTo,
    fingerprint256: cert.fingerprint256,
  };
}

function sameMaterial(a: TlsMaterial, b: TlsMaterial): boolean {
  const sameCa = a.ca === undefined || b.ca === undefined ? a.ca === b.ca : a.ca.equals(b.ca);
  return a.cert.equals(b.cert) && a.key.equals(b.key) && sameCa;
}

export interface TlsMaterialEvents {
  /** New contents were read and checked; listeners switch to them. */
  reload: [material: TlsMaterial];
  /** A changed file could not be used (half-written, key of another certificate): the old material stays. */
  error: [error: Error];
}

/**
 * Holds the current TLS material and re-reads the files when one changes (stat polling: works for in-place
 * writes, renames over the file and the symlink swaps of mounted secrets). Unusable contents are reported
 * and ignored, so a rotation in progress never leaves the listener without a certificate.
 */
export class TlsMaterialWatcher extends EventEmitter<TlsMaterialEvents> {
  #current: TlsMaterial;
  #watching = false;
  readonly #paths: string[];
  readonly #onChange = () => this.check();

  constructor(
    readonly files: TlsFiles,
    readonly intervalMs: number,
  ) {
    super();
    this.#current = readTlsMaterial(files);
    this.#paths = [files.certFile, files.keyFile, ...(files.caFile ? [files.caFile] : [])];
  }

  get current(): TlsMaterial {
    return this.#current;
  }

  start(): this {
    if (this.#watching) return this;
    this.#watching = true;
    for (const path of this.#paths) {
      watchFile(path, { interval: this.intervalMs, persistent: false }, this.#onChange);
    }
    return this;
  }

  /** Re-reads now; returns whether new material took effect. */
  check(): boolean {
    let next: TlsMaterial;
    try {
      next = readTlsMaterial(this.files);
    } catch (error) {
      this.emit("error", error as Error);
      return false;
    }
    if (sameMaterial(next, this.#current)) return false;
    this.#current = next;
    this.emit("reload", next);
    return true;
  }

  close(): void {
    if (!this.#watching) return;
    this.#watching = false;
    for (const path of this.#paths) unwatchFile(path, this.#onChange);
  }
}

/** The settings shape loadHttpsOptions reads (settings.tls of @heidrun/config). */
export interface ListenerTlsSettings {
  mode: TransportMode;
  certFile?: string | undefined;
  keyFile?: string | undefined;
  caFile?: string | undefined;
  reloadCheckIntervalMs: number;
  dashboard: { mode: TransportMode; certFile?: string; keyFile?: string; caFile?: string };
}

export interface HttpsListener {
  mode: TransportMode;
  /** For `https.createServer(options, app)`; undefined in plaintext mode (use `http`). */
  options: HttpsServerOptions | undefined;
  /** Swaps the certificate of a running server when the files change; returns the stopper. */
  watch(
    server: { setSecureContext(options: SecureContextOptions): void },
    onEvent?: (event: { reloaded?: CertificateSummary; error?: Error }) => void,
  ): () => void;
}

/**
 * The dashboard's HTTPS options from settings.tls.dashboard (its files default to the gRPC port's). mtls
 * requires a client certificate signed by the CA bundle. Throws at start on unusable files.
 */
export function loadHttpsOptions(tls: ListenerTlsSettings): HttpsListener {
  const { mode } = tls.dashboard;
  if (mode === "plaintext") return { mode, options: undefined, watch: () => () => {} };
  const files: TlsFiles = {
    certFile: tls.dashboard.certFile ?? tls.certFile ?? "",
    keyFile: tls.dashboard.keyFile ?? tls.keyFile ?? "",
    caFile: mode === "mtls" ? (tls.dashboard.caFile ?? tls.caFile) : undefined,
  };
  const watcher = new TlsMaterialWatcher(files, tls.reloadCheckIntervalMs);
  const { cert, key, ca } = watcher.current;
  const options: HttpsServerOptions = {
    cert,
    key,
    ...(mode === "mtls" ? { ca, requestCert: true, rejectUnauthorized: true } : {}),
  };
  return {
    mode,
    options,
    watch(server, onEvent) {
      const onReload = (next: TlsMaterial) => {
        server.setSecureContext({ cert: next.cert, key: next.key, ...(next.ca ? { ca: next.ca } : {}) });
        onEvent?.({ reloaded: summarizeCertificate(next.cert) });
      };
      const onError = (error: Error) => onEvent?.({ error });
      watcher.on("reload", onReload).on("error", onError).start();
      return () => {
        watcher.off("reload", onReload).off("error", onError);
        watcher.close();
      };
    },
  };
}
