// TLS options for clients of an Observer server (relay or agent).
import * as fs from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { CommandError, UsageError } from "./errors";

export interface ClientTlsFiles {
  /** PEM CA bundle that signed the server certificate; TLS is on when set. */
  ca?: string;
  /** PEM client certificate and key, for servers that require mTLS. */
  cert?: string;
  key?: string;
  /** Name to verify in the server certificate instead of the dialled host. */
  serverName?: string;
}

export interface ClientConnection {
  credentials: grpc.ChannelCredentials;
  options: grpc.ChannelOptions;
}

function readPem(file: string, flag: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new CommandError(`cannot read ${flag} ${file} (${code}); check the path, or create certificates with \`flowlens certs\``);
  }
}

/**
 * grpc-js passes the dialled host as TLS server name even when it is an IP
 * address, which makes Node print DEP0123 on every IP dial; certificates with IP
 * SANs are still verified, so only that warning is dropped from the CLI's stderr.
 */
export function silenceIpServerNameWarning(): void {
  if (process.listeners("warning").some((l) => (l as { ipServerNameFilter?: boolean }).ipServerNameFilter)) return;
  const defaults = process.listeners("warning");
  process.removeAllListeners("warning");
  const filter = Object.assign(
    (w: Error & { code?: string }) => {
      if (w.code !== "DEP0123") for (const l of defaults) l(w);
    },
    { ipServerNameFilter: true },
  );
  process.on("warning", filter);
}

/** Insecure when no CA is given, TLS (and mTLS with cert+key) otherwise. */
export function clientConnection(tls: ClientTlsFiles, flagPrefix = "--tls"): ClientConnection {
  if ((tls.cert && !tls.key) || (!tls.cert && tls.key)) {
    throw new UsageError(`${flagPrefix}-cert and ${flagPrefix}-key go together; give both or neither`);
  }
  if (!tls.ca) {
    if (tls.cert) throw new UsageError(`${flagPrefix}-cert needs ${flagPrefix}-ca (the CA that signed the server certificate)`);
    return { credentials: grpc.credentials.createInsecure(), options: {} };
  }
  silenceIpServerNameWarning();
  const ca = readPem(tls.ca, `${flagPrefix}-ca`);
  const cert = tls.cert ? readPem(tls.cert, `${flagPrefix}-cert`) : null;
  const key = tls.key ? readPem(tls.key, `${flagPrefix}-key`) : null;
  const options: grpc.ChannelOptions = {};
  if (tls.serverName) {
    options["grpc.ssl_target_name_override"] = tls.serverName;
    options["grpc.default_authority"] = tls.serverName;
  }
  return { credentials: grpc.credentials.createSsl(ca, key, cert), options };
}
