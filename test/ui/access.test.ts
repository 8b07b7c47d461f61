// Server-side rules: the namespace allow-list, IAP JWT verification and flags.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { verifyIapJwt } from "../../ui/server/auth";
import { loadConfig } from "../../ui/server/config";
import { NamespaceAccess } from "../../ui/server/namespace-access";
import { HIDDEN_NAMESPACE, matchesQuery } from "../../ui/shared/flow-view";
import { makeFlow } from "./flow-factory";

const shop = { ns: "shop", pod: "frontend-1", ip: "198.18.5.10" };
const data = { ns: "data", pod: "redis-0", ip: "198.18.5.12" };
const billing = { ns: "billing", pod: "ledger-0", ip: "198.18.5.14" };

describe("NamespaceAccess", () => {
  const access = new NamespaceAccess(["shop"]);

  test("a flow between two namespaces outside the list is not visible", () => {
    expect(access.visible(makeFlow({ src: data, dst: billing, dport: 1 }))).toBeUndefined();
  });

  test("the side outside the list is reduced to a placeholder", () => {
    const seen = access.visible(makeFlow({ src: shop, dst: data, dport: 6379 }))!;
    expect(seen.source?.pod_name).toBe("frontend-1");
    expect(seen.destination).toMatchObject({ namespace: HIDDEN_NAMESPACE, pod_name: "", labels: [] });
    expect(seen.IP?.destination).toBe("");
    expect(JSON.stringify(seen)).not.toContain("redis");
  });

  test("the relay is asked only for flows touching allowed namespaces", () => {
    expect(access.relayWhitelist()).toEqual([{ source_pod: ["shop/"] }, { destination_pod: ["shop/"] }]);
    expect(new NamespaceAccess(undefined).relayWhitelist()).toEqual([]);
  });
});

describe("flow table query", () => {
  const flow = makeFlow({ src: shop, dst: data, dport: 6379, verdict: "DROPPED" });
  test.each([
    [{ namespace: "data" }, true],
    [{ namespace: "billing" }, false],
    [{ pod: "redis" }, true],
    [{ verdict: "FORWARDED" }, false],
    [{ protocol: "tcp" }, true],
    [{ protocol: "UDP" }, false],
    [{ port: 6379 }, true],
    [{ port: 80 }, false],
    [{ text: "netfilter_drop" }, true],
    [{ text: "nothing-like-this" }, false],
  ])("query %j matches: %s", (q, expected) => {
    expect(matchesQuery(flow, q)).toBe(expected);
  });
});

describe("IAP JWT verification", () => {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
  const keys = new Map([["k1", publicKey]]);
  const audience = "/projects/1/global/backendServices/2";
  const now = Math.floor(Date.now() / 1000);
  const sign = (claims: object, kid = "k1", key = privateKey) => {
    const head = Buffer.from(JSON.stringify({ alg: "ES256", kid })).toString("base64url");
    const body = Buffer.from(JSON.stringify(claims)).toString("base64url");
    const sig = crypto.sign("sha256", Buffer.from(`${head}.${body}`), { key, dsaEncoding: "ieee-p1363" }).toString("base64url");
    return `${head}.${body}.${sig}`;
  };
  const good = { aud: audience, iss: "https://cloud.google.com/iap", exp: now + 600, iat: now, email: "dev@example.com" };

  test("a token for this audience, signed by a listed key, is accepted", () => {
    expect(verifyIapJwt(sign(good), audience, keys)).toEqual({ ok: true, user: "dev@example.com" });
  });

  test.each([
    ["another audience", sign({ ...good, aud: "/projects/1/global/backendServices/3" }), /audience/],
    ["an expired token", sign({ ...good, exp: now - 3600 }), /expired/],
    ["another issuer", sign({ ...good, iss: "https://evil.example" }), /issuer/],
    ["an unknown key", sign(good, "k9"), /unknown key/],
    ["a forged signature", sign(good, "k1", crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey), /signature/],
    ["garbage", "not-a-jwt", /malformed/],
  ])("%s is refused", (_name, jwt, reason) => {
    const r = verifyIapJwt(jwt, audience, keys);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(reason);
  });
});

describe("flowlens ui flags", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flowlens-ui-flags-"));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("listening beyond localhost without sign-in is refused with what to do", () => {
    expect(() => loadConfig(["--listen-address", "0.0.0.0:12000"], {})).toThrow(/sign-in is required: add --auth-token-file or --iap-audience/);
    expect(() => loadConfig([":12000"], {})).toThrow(/unexpected argument/);
  });

  test("flags come from the environment too, and bad values are named", () => {
    const tokenFile = path.join(dir, "token");
    fs.writeFileSync(tokenFile, "0123456789abcdef0123\n");
    const cfg = loadConfig([], { FLOWLENS_LISTEN_ADDRESS: ":12001", FLOWLENS_AUTH_TOKEN_FILE: tokenFile, FLOWLENS_NAMESPACE_ALLOW: "shop, data" });
    expect(cfg).toMatchObject({ listenHost: "0.0.0.0", listenPort: 12001, auth: { kind: "token", token: "0123456789abcdef0123" }, namespaceAllow: ["shop", "data"] });
    expect(() => loadConfig(["--namespace-allow", "Shop"], {})).toThrow(/"Shop" is not a Kubernetes namespace name/);
    expect(() => loadConfig(["--relay", "nowhere"], {})).toThrow(/--relay "nowhere" is not host:port/);
    expect(() => loadConfig(["--auth-token-file", path.join(dir, "missing")], {})).toThrow(/--auth-token-file .*missing: cannot read it/);
  });
});
