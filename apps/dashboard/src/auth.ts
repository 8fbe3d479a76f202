import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { ConfigStore } from "@heidrun/config";
import type { NextFunction, Request, Response } from "express";

/** Who is signed in: the basic-auth user name (free text) and the admin key's non-secret id. */
export interface DashboardPrincipal {
  user: string;
  keyId: string;
  /** What the CSRF token is bound to: the credentials the browser sends with every request. */
  credentials: string;
}

export const REALM = 'Basic realm="Heidrun dashboard", charset="UTF-8"';

function sameSecret(a: string, b: string): boolean {
  // Digests first, so the comparison takes the same time whatever the lengths.
  return timingSafeEqual(createHash("sha256").update(a).digest(), createHash("sha256").update(b).digest());
}

/** No API keys configured: the whole deployment runs without authentication (and the pages say so). */
export function authDisabled(config: ConfigStore): boolean {
  return config.current().apiKeys.length === 0;
}

/**
 * Basic authentication with an admin key of HEIDRUN_API_KEYS as the password (any user name). A yggdrasil key
 * is a valid key of the wrong scope: 403, so a browser does not keep asking for it.
 */
export function requireAdmin(config: ConfigStore) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (authDisabled(config)) {
      res.locals.principal = {
        user: "anonymous",
        keyId: "auth-off",
        credentials: "",
      } satisfies DashboardPrincipal;
      next();
      return;
    }
    const header = req.headers.authorization ?? "";
    const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header.trim());
    const decoded = match ? Buffer.from(match[1]!, "base64").toString("utf8") : "";
    const colon = decoded.indexOf(":");
    const user = colon >= 0 ? decoded.slice(0, colon) : "";
    const password = colon >= 0 ? decoded.slice(colon + 1) : "";
    const key = password ? config.current().apiKeys.find((k) => sameSecret(k.key, password)) : undefined;
    if (!key) {
      res.status(401).set("WWW-Authenticate", REALM).type("text/plain").send("authentication required\n");
      return;
    }
    if (key.scope !== "admin") {
      res.status(403).type("text/plain").send("the dashboard needs an admin key\n");
      return;
    }
    res.locals.principal = {
      user: user || "admin",
      keyId: key.id,
      credentials: header,
    } satisfies DashboardPrincipal;
    next();
  };
}

/**
 * Per-session CSRF tokens: an HMAC of the credentials the browser sends (the basic-auth header) under a server
 * secret. Another site can make the browser send the credentials but cannot read a page to learn the token.
 */
export class CsrfTokens {
  readonly #secret: Buffer;

  constructor(secret: Buffer = randomBytes(32)) {
    this.#secret = secret;
  }

  issue(principal: DashboardPrincipal): string {
    return createHmac("sha256", this.#secret)
      .update(`heidrun-dashboard-csrf\n${principal.credentials}`)
      .digest("base64url");
  }

  valid(principal: DashboardPrincipal, token: unknown): boolean {
    return typeof token === "string" && token.length > 0 && sameSecret(token, this.issue(principal));
  }
}

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}

/**
 * State-changing requests must come from a page of this dashboard: the Origin header (every current browser
 * sends it with POST, PUT and DELETE), or the Referer when a privacy setting dropped Origin. Hosts are compared
 * (not schemes), so a TLS-terminating proxy in front does not break it.
 */
export function sameOrigin(req: Request): boolean {
  const host = req.headers.host;
  if (!host) return false;
  const origin = req.headers.origin;
  if (typeof origin === "string" && origin !== "null") return hostOf(origin) === host;
  const referer = req.headers.referer;
  return typeof referer === "string" && hostOf(referer) === host;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** For routers whose forms we do not render (Bull Board's API): unsafe methods need our origin. */
export function requireSameOriginForChanges(req: Request, res: Response, next: NextFunction): void {
  if (SAFE_METHODS.has(req.method) || sameOrigin(req)) {
    next();
    return;
  }
  res.status(403).type("text/plain").send("cross-origin request refused\n");
}

/** For our own forms: same origin and a valid token in the `csrf` field. */
export function requireCsrf(tokens: CsrfTokens) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const principal = res.locals.principal as DashboardPrincipal;
    const token = (req.body as Record<string, unknown> | undefined)?.csrf;
    if (!sameOrigin(req) || !tokens.valid(principal, token)) {
      res.status(403).type("text/plain").send("CSRF check failed: reload the page and try again\n");
      return;
    }
    next();
  };
}
