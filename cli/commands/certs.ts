// `flowlens certs`: a CA plus server and client certificates for mTLS between
// agents, relay, UI and CLI. Each output folder holds exactly the keys of a
// Kubernetes TLS Secret with CA (ca.crt, tls.crt, tls.key), so
// `kubectl create secret generic NAME --from-file=DIR` works as is. An existing
// CA in the output folder is reused, so new certificates stay trusted.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CommandError, reportError, UsageError } from "../lib/errors";
import { listFlag, parseFlags, stringFlag } from "../lib/flags";

const FLAGS = {
  out: { type: "string" },
  "server-name": { type: "string", multiple: true },
  "client-name": { type: "string" },
  days: { type: "string" },
  force: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

const HELP = `usage: flowlens certs [flags]

Creates OUT/ca/{ca.crt,ca.key}, OUT/server/{ca.crt,tls.crt,tls.key} and
OUT/client/{ca.crt,tls.crt,tls.key} (ECDSA P-256). The server certificate serves
agents and the relay; the client certificate is for the relay (towards agents),
the UI and the CLI. A CA already in OUT/ca is reused.

  --out DIR                 output folder (default ./flowlens-certs)
  --server-name NAME        DNS name or IP in the server certificate; repeatable
                            (default localhost, 127.0.0.1, *.flowlens.local)
  --client-name NAME        client certificate common name (default flowlens-client)
  --days N                  validity (default 365)
  --force                   overwrite existing server/client certificates
`;

export async function run(argv: string[]): Promise<number> {
  try {
    return createCertificates(argv);
  } catch (err) {
    return reportError("certs", err);
  }
}

function openssl(args: string[], where: string): void {
  try {
    execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim().split("\n")[0] ?? String(err);
    throw new CommandError(`openssl failed creating ${where}: ${stderr}; check that openssl is installed and the folder is writable`);
  }
}

function subjectAltNames(names: string[]): string {
  return names.map((n) => (/^[\d.]+$/.test(n) || n.includes(":") ? `IP:${n}` : `DNS:${n}`)).join(",");
}

function issue(dir: string, ca: { crt: string; key: string }, cn: string, sans: string[], usage: "serverAuth" | "clientAuth", days: number): void {
  fs.mkdirSync(dir, { recursive: true });
  const key = path.join(dir, "tls.key");
  const csr = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "flowlens-certs-")), "req.csr");
  const ext = `${csr}.ext`;
  try {
    openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key], key);
    openssl(["req", "-new", "-key", key, "-subj", `/CN=${cn}`, "-out", csr], `${dir} request`);
    const lines = [`basicConstraints=critical,CA:FALSE`, `keyUsage=critical,digitalSignature,keyEncipherment`, `extendedKeyUsage=${usage}`];
    if (sans.length) lines.push(`subjectAltName=${subjectAltNames(sans)}`);
    fs.writeFileSync(ext, lines.join("\n") + "\n");
    openssl(["x509", "-req", "-in", csr, "-CA", ca.crt, "-CAkey", ca.key, "-CAcreateserial", "-days", String(days), "-sha256", "-extfile", ext, "-out", path.join(dir, "tls.crt")], path.join(dir, "tls.crt"));
    fs.copyFileSync(ca.crt, path.join(dir, "ca.crt"));
    fs.chmodSync(key, 0o600);
  } finally {
    fs.rmSync(path.dirname(csr), { recursive: true, force: true });
  }
}

function createCertificates(argv: string[]): number {
  if (argv.includes("-h") || argv.includes("--help")) {
    process.stdout.write(HELP);
    return 0;
  }
  const flags = parseFlags("certs", argv, FLAGS);
  if (flags.positionals.length) throw new UsageError(`unexpected argument "${flags.positionals[0]}"; use --out DIR`);
  const out = path.resolve(stringFlag(flags, "out") ?? "flowlens-certs");
  const days = Number(stringFlag(flags, "days") ?? "365");
  if (!Number.isInteger(days) || days < 1) throw new UsageError(`--days "${stringFlag(flags, "days")}" is not a positive whole number of days`);
  const serverNames = listFlag(flags, "server-name");
  const sans = serverNames.length ? serverNames : ["localhost", "127.0.0.1", "*.flowlens.local"];
  for (const n of sans) if (!/^[A-Za-z0-9*.:-]+$/.test(n)) throw new UsageError(`--server-name "${n}" is not a DNS name or IP address`);
  const clientName = stringFlag(flags, "client-name") ?? "flowlens-client";
  if (!/^[A-Za-z0-9 ._-]+$/.test(clientName)) throw new UsageError(`--client-name "${clientName}" may only hold letters, digits, space, ".", "_" and "-"`);

  const ca = { crt: path.join(out, "ca", "ca.crt"), key: path.join(out, "ca", "ca.key") };
  const servedDirs = [path.join(out, "server"), path.join(out, "client")];
  if (!flags.values.force) {
    for (const d of servedDirs) if (fs.existsSync(path.join(d, "tls.crt"))) throw new CommandError(`${d}/tls.crt already exists; pass --force to replace it or choose another --out`);
  }
  if (!fs.existsSync(ca.key)) {
    fs.mkdirSync(path.dirname(ca.key), { recursive: true });
    openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", ca.key], ca.key);
    fs.chmodSync(ca.key, 0o600);
    openssl(["req", "-x509", "-new", "-key", ca.key, "-subj", "/CN=flowlens-ca", "-days", String(days * 2), "-sha256",
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", ca.crt], ca.crt);
  }
  issue(servedDirs[0], ca, sans[0].replace("*.", "any."), sans, "serverAuth", days);
  issue(servedDirs[1], ca, clientName, [], "clientAuth", days);
  fs.rmSync(path.join(out, "ca", "ca.srl"), { force: true });
  process.stdout.write(`wrote ${out}/ca, ${out}/server (names: ${sans.join(", ")}) and ${out}/client (CN ${clientName})\n`);
  return 0;
}
