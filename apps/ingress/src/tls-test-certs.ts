import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Test certificates made with the openssl CLI at test time: two unrelated CAs, server certificates for
 * 127.0.0.1/localhost, and client certificates. EC P-256 keys keep generation fast.
 */
export interface IssuedCertificate {
  cert: string;
  key: string;
  /** PEM contents, for clients. */
  certPem: Buffer;
  keyPem: Buffer;
}

export interface TestCertificates {
  dir: string;
  caA: IssuedCertificate;
  caB: IssuedCertificate;
  /** Issues a certificate signed by `ca`; `server` adds the 127.0.0.1/localhost names and serverAuth. */
  issue(name: string, subject: string, ca: IssuedCertificate, kind: "server" | "client"): IssuedCertificate;
  /** Replaces `target`'s files by renaming fresh copies of `source`'s over them (as a rotation would). */
  rotate(target: { cert: string; key: string }, source: IssuedCertificate): void;
  remove(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

function read(cwd: string, name: string): IssuedCertificate {
  const cert = join(cwd, `${name}.crt`);
  const key = join(cwd, `${name}.key`);
  return {
    cert,
    key,
    certPem: readFileSync(cert),
    keyPem: readFileSync(key),
  };
}

function newKey(cwd: string, name: string): void {
  openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", `${name}.key`], cwd);
}

function makeCa(cwd: string, name: string, subject: string): IssuedCertificate {
  newKey(cwd, name);
  openssl(
    ["req", "-x509", "-new", "-key", `${name}.key`, "-subj", subject, "-days", "2", "-out", `${name}.crt`],
    cwd,
  );
  return read(cwd, name);
}

export function makeTestCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), "heidrun-tls-"));
  const caA = makeCa(dir, "ca-a", "/CN=Heidrun Test CA A");
  const caB = makeCa(dir, "ca-b", "/CN=Other Test CA B");
  return {
    dir,
    caA,
    caB,
    issue(name, subject, ca, kind) {
      newKey(dir, name);
      const ext = join(dir, `${name}.ext`);
      writeFileSync(
        ext,
        kind === "server"
          ? "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
          : "extendedKeyUsage=clientAuth\n",
      );
      openssl(["req", "-new", "-key", `${name}.key`, "-subj", subject, "-out", `${name}.csr`], dir);
      openssl(
        [
          "x509",
          "-req",
          "-in",
          `${name}.csr`,
          "-CA",
          ca.cert,
          "-CAkey",
          ca.key,
          "-set_serial",
          `0x${Buffer.from(name).toString("hex").slice(0, 30)}`,
          "-days",
          "2",
          "-extfile",
          ext,
          "-out",
          `${name}.crt`,
        ],
        dir,
      );
      return read(dir, name);
    },
    rotate(target, source) {
      writeFileSync(`${target.key}.next`, source.keyPem);
      writeFileSync(`${target.cert}.next`, source.certPem);
      renameSync(`${target.key}.next`, target.key);
      renameSync(`${target.cert}.next`, target.cert);
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
