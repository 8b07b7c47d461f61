// `flowlens ui` flags (names fixed in docs/DEVELOPING.md), each also settable
// as FLOWLENS_<FLAG_IN_UPPER_SNAKE>. Every error names the flag and the value.
import * as fs from "node:fs";
import * as net from "node:net";

export interface UiConfig {
  listenHost: string;
  listenPort: number;
  relay: string;
  relayTls?: { ca: Buffer; cert?: Buffer; key?: Buffer; serverName?: string };
  auth:
    | { kind: "none" }
    | { kind: "token"; token: string }
    | { kind: "iap"; audience: string; keysFile: string };
  namespaceAllow?: string[];
}

const FLAGS = {
  "listen-address": "address to serve the page on (default 127.0.0.1:12000)",
  relay: "relay Observer API host:port (default localhost:4245)",
  "relay-tls-ca": "CA bundle that signed the relay's certificate (enables TLS)",
  "relay-tls-cert": "client certificate for mTLS to the relay",
  "relay-tls-key": "client key for mTLS to the relay",
  "relay-tls-server-name": "name expected in the relay's certificate",
  "auth-token-file": "file holding the bearer token users must present",
  "iap-audience": "expected audience of the identity-aware proxy's JWT (/projects/N/global/backendServices/M)",
  "iap-keys-file": "JSON Web Key Set the proxy signs with (ES256), since keys cannot be fetched at run time",
  "namespace-allow": "comma-separated namespaces users may see (default: all)",
} as const;
type Flag = keyof typeof FLAGS;

export function usage(): string {
  const width = Math.max(...Object.keys(FLAGS).map((f) => f.length)) + 2;
  const lines = Object.entries(FLAGS).map(([f, d]) => `  --${f.padEnd(width)}${d}`);
  return `usage: flowlens ui [flags]\n\nflags (or FLOWLENS_<FLAG> in the environment):\n${lines.join("\n")}\n`;
}

export class ConfigError extends Error {}

export function parseFlags(argv: string[], env: NodeJS.ProcessEnv = process.env): Map<Flag, string> {
  const values = new Map<Flag, string>();
  for (const flag of Object.keys(FLAGS) as Flag[]) {
    const v = env[`FLOWLENS_${flag.toUpperCase().replace(/-/g, "_")}`];
    if (v !== undefined && v !== "") values.set(flag, v);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) throw new ConfigError(`unexpected argument "${arg}": flags look like --name value`);
    const eq = arg.indexOf("=");
    const name = (eq > 0 ? arg.slice(2, eq) : arg.slice(2)) as Flag;
    if (!(name in FLAGS)) throw new ConfigError(`unknown flag "--${name}"; run "flowlens ui --help" for the list`);
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new ConfigError(`flag --${name} needs a value`);
    values.set(name, value);
  }
  return values;
}

export function splitHostPort(address: string, flag: string): { host: string; port: number } {
  const m = address.match(/^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/);
  if (!m) throw new ConfigError(`--${flag} "${address}" is not host:port (e.g. 127.0.0.1:12000, :12000, [::1]:12000)`);
  const port = Number(m[3]);
  if (port > 65535) throw new ConfigError(`--${flag} "${address}": port ${port} is above 65535`);
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port };
}

export function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  if (net.isIPv4(host)) return host.startsWith("127.");
  return host === "::1";
}

function readFile(flag: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new ConfigError(`--${flag} ${file}: cannot read it (${(err as Error).message}); point it at an existing readable file`);
  }
}

export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): UiConfig {
  const flags = parseFlags(argv, env);
  const listen = splitHostPort(flags.get("listen-address") ?? "127.0.0.1:12000", "listen-address");
  const relay = flags.get("relay") ?? "localhost:4245";
  splitHostPort(relay, "relay");

  let relayTls: UiConfig["relayTls"];
  const ca = flags.get("relay-tls-ca");
  const cert = flags.get("relay-tls-cert");
  const key = flags.get("relay-tls-key");
  if ((cert && !key) || (key && !cert)) throw new ConfigError("--relay-tls-cert and --relay-tls-key go together: give both or neither");
  if ((cert || flags.get("relay-tls-server-name")) && !ca) {
    throw new ConfigError("--relay-tls-cert/--relay-tls-server-name need --relay-tls-ca (the CA that signed the relay's certificate)");
  }
  if (ca) {
    relayTls = {
      ca: readFile("relay-tls-ca", ca),
      cert: cert ? readFile("relay-tls-cert", cert) : undefined,
      key: key ? readFile("relay-tls-key", key) : undefined,
      serverName: flags.get("relay-tls-server-name"),
    };
  }

  const tokenFile = flags.get("auth-token-file");
  const audience = flags.get("iap-audience");
  const keysFile = flags.get("iap-keys-file");
  let auth: UiConfig["auth"] = { kind: "none" };
  if (tokenFile && audience) throw new ConfigError("--auth-token-file and --iap-audience are alternatives: choose one");
  if (tokenFile) {
    const token = readFile("auth-token-file", tokenFile).toString("utf8").trim();
    if (token.length < 16) throw new ConfigError(`--auth-token-file ${tokenFile}: the token has ${token.length} characters; use at least 16 random ones`);
    auth = { kind: "token", token };
  } else if (audience) {
    if (!keysFile) throw new ConfigError("--iap-audience needs --iap-keys-file (the proxy's public keys as a JSON Web Key Set)");
    readFile("iap-keys-file", keysFile);
    auth = { kind: "iap", audience, keysFile };
  } else if (keysFile) {
    throw new ConfigError("--iap-keys-file is only used with --iap-audience");
  }
  if (auth.kind === "none" && !isLoopback(listen.host)) {
    throw new ConfigError(
      `--listen-address ${listen.host}:${listen.port} is reachable from other hosts, so sign-in is required: ` +
        "add --auth-token-file or --iap-audience, or listen on 127.0.0.1",
    );
  }

  let namespaceAllow: string[] | undefined;
  const allow = flags.get("namespace-allow");
  if (allow !== undefined) {
    namespaceAllow = allow.split(",").map((s) => s.trim()).filter(Boolean);
    const bad = namespaceAllow.find((ns) => !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns));
    if (bad !== undefined) throw new ConfigError(`--namespace-allow: "${bad}" is not a Kubernetes namespace name (lowercase letters, digits, "-")`);
    if (namespaceAllow.length === 0) throw new ConfigError("--namespace-allow is empty: list at least one namespace, or leave the flag out");
  }

  return { listenHost: listen.host, listenPort: listen.port, relay, relayTls, auth, namespaceAllow };
}
