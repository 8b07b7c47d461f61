// Who may use the UI: a bearer token (header, or a session cookie set after
// the sign-in form), or Google's identity-aware proxy, whose signed JWT comes
// in `x-goog-iap-jwt-assertion` and is checked against keys read from a file.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import type { IncomingMessage } from "node:http";
import type { UiConfig } from "./config";

export const SESSION_COOKIE = "flowlens_session";
export const IAP_HEADER = "x-goog-iap-jwt-assertion";
const IAP_ISSUER = "https://cloud.google.com/iap";
const CLOCK_SKEW_S = 30;

export type AuthResult = { ok: true; user: string } | { ok: false; reason: string };

export interface Authenticator {
  readonly kind: UiConfig["auth"]["kind"];
  check(req: IncomingMessage): AuthResult;
  /** For the token sign-in form: the cookie value when the token is right. */
  sessionFor?(token: string): string | undefined;
}

export function createAuthenticator(auth: UiConfig["auth"]): Authenticator {
  switch (auth.kind) {
    case "none":
      return { kind: "none", check: () => ({ ok: true, user: "local" }) };
    case "token":
      return new TokenAuthenticator(auth.token);
    case "iap":
      return new IapAuthenticator(auth.audience, loadJwks(auth.keysFile));
  }
}

class TokenAuthenticator implements Authenticator {
  readonly kind = "token";
  // The cookie carries an HMAC of the token, not the token, under a key that
  // lives only in this process: restarting the server signs everyone out.
  private readonly sessionKey = crypto.randomBytes(32);
  private readonly expectedSession: string;

  constructor(private readonly token: string) {
    this.expectedSession = this.mac(token);
  }

  check(req: IncomingMessage): AuthResult {
    const header = req.headers.authorization;
    if (header) {
      const m = header.match(/^Bearer\s+(.+)$/i);
      if (!m) return { ok: false, reason: "the Authorization header is not \"Bearer <token>\"" };
      return safeEqual(m[1].trim(), this.token) ? { ok: true, user: "token" } : { ok: false, reason: "the bearer token is wrong" };
    }
    const cookie = readCookie(req, SESSION_COOKIE);
    if (cookie) return safeEqual(cookie, this.expectedSession) ? { ok: true, user: "token" } : { ok: false, reason: "the session has expired; sign in again" };
    return { ok: false, reason: "sign-in required: send \"Authorization: Bearer <token>\" or sign in at /login" };
  }

  sessionFor(token: string): string | undefined {
    return safeEqual(token.trim(), this.token) ? this.expectedSession : undefined;
  }

  private mac(value: string): string {
    return crypto.createHmac("sha256", this.sessionKey).update(value).digest("base64url");
  }
}

interface Jwk extends crypto.JsonWebKey {
  kid?: string;
  alg?: string;
}

function loadJwks(file: string): Map<string, crypto.KeyObject> {
  let parsed: { keys?: Jwk[] };
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`--iap-keys-file ${file}: not a JSON Web Key Set (${(err as Error).message}); save the proxy's public_key-jwk document there`);
  }
  const keys = new Map<string, crypto.KeyObject>();
  for (const [i, jwk] of (parsed.keys ?? []).entries()) {
    if (!jwk.kid) throw new Error(`--iap-keys-file ${file}: key #${i} has no "kid"; every key needs one`);
    try {
      keys.set(jwk.kid, crypto.createPublicKey({ key: jwk, format: "jwk" }));
    } catch (err) {
      throw new Error(`--iap-keys-file ${file}: key "${jwk.kid}" is not a valid public key (${(err as Error).message})`);
    }
  }
  if (keys.size === 0) throw new Error(`--iap-keys-file ${file}: no keys under "keys"`);
  return keys;
}

class IapAuthenticator implements Authenticator {
  readonly kind = "iap";

  constructor(
    private readonly audience: string,
    private readonly keys: Map<string, crypto.KeyObject>,
  ) {}

  check(req: IncomingMessage): AuthResult {
    const jwt = req.headers[IAP_HEADER];
    if (typeof jwt !== "string" || !jwt) return { ok: false, reason: `no ${IAP_HEADER} header: reach the UI through the identity-aware proxy` };
    return verifyIapJwt(jwt, this.audience, this.keys);
  }
}

export function verifyIapJwt(jwt: string, audience: string, keys: Map<string, crypto.KeyObject>, nowS = Date.now() / 1000): AuthResult {
  const parts = jwt.split(".");
  if (parts.length !== 3) return { ok: false, reason: "the proxy's JWT is malformed" };
  let header: { alg?: string; kid?: string };
  let claims: { aud?: string | string[]; iss?: string; exp?: number; iat?: number; email?: string; sub?: string };
  try {
    header = JSON.parse(Buffer.from(parts[0], "base64url").toString("utf8"));
    claims = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
  } catch {
    return { ok: false, reason: "the proxy's JWT is not valid JSON" };
  }
  if (header.alg !== "ES256") return { ok: false, reason: `the proxy's JWT uses ${header.alg}, expected ES256` };
  const key = header.kid ? keys.get(header.kid) : undefined;
  if (!key) return { ok: false, reason: `the proxy's JWT is signed with unknown key "${header.kid}"; refresh --iap-keys-file` };
  const signed = crypto.verify(
    "sha256",
    Buffer.from(`${parts[0]}.${parts[1]}`),
    { key, dsaEncoding: "ieee-p1363" },
    Buffer.from(parts[2], "base64url"),
  );
  if (!signed) return { ok: false, reason: "the proxy's JWT signature does not verify" };
  const auds = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!auds.includes(audience)) return { ok: false, reason: `the proxy's JWT is for audience "${auds.join(",")}", not this UI` };
  if (claims.iss !== IAP_ISSUER) return { ok: false, reason: `the proxy's JWT issuer is "${claims.iss}", expected ${IAP_ISSUER}` };
  if (typeof claims.exp !== "number" || claims.exp + CLOCK_SKEW_S < nowS) return { ok: false, reason: "the proxy's JWT has expired" };
  if (typeof claims.iat === "number" && claims.iat - CLOCK_SKEW_S > nowS) return { ok: false, reason: "the proxy's JWT is issued in the future" };
  return { ok: true, user: claims.email ?? claims.sub ?? "iap-user" };
}

function readCookie(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

function safeEqual(a: string, b: string): boolean {
  const ha = crypto.createHash("sha256").update(a).digest();
  const hb = crypto.createHash("sha256").update(b).digest();
  return crypto.timingSafeEqual(ha, hb);
}
