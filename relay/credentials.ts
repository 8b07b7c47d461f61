// TLS credentials that follow their files: gRPC's file-watcher certificate
// provider re-reads the PEM files every `reloadMs`, and every new connection
// (towards agents, or accepted by the relay's own server) uses the latest
// pair. Rotating a Secret therefore needs no restart. Replace files atomically
// (as Kubernetes does with its symlink swap) so a reader never sees a new
// certificate next to an old key.
import * as fs from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { UsageError } from "../cli/lib/errors";
import { silenceIpServerNameWarning } from "../cli/lib/tls";

export interface PeerTlsConfig {
  ca?: string;
  cert?: string;
  key?: string;
  serverName?: string;
}

export interface ServerTlsConfig {
  cert?: string;
  key?: string;
  clientCa?: string;
}

function mustExist(file: string, flag: string): string {
  if (!fs.existsSync(file)) throw new UsageError(`${flag} ${file} does not exist; mount the certificate there or create one with \`flowlens certs\``);
  return file;
}

/** Channel credentials and options for dialling agents (or an upstream hubble-relay). */
export function peerCredentials(tls: PeerTlsConfig, reloadMs: number, prefix = "--peer-tls"): { credentials: grpc.ChannelCredentials; options: grpc.ChannelOptions } {
  if (!!tls.cert !== !!tls.key) throw new UsageError(`${prefix}-cert and ${prefix}-key go together; give both or neither`);
  if (!tls.ca) {
    if (tls.cert) throw new UsageError(`${prefix}-cert needs ${prefix}-ca (the CA that signed the agents' server certificates)`);
    return { credentials: grpc.credentials.createInsecure(), options: {} };
  }
  silenceIpServerNameWarning();
  const caProvider = new grpc.experimental.FileWatcherCertificateProvider({ caCertificateFile: mustExist(tls.ca, `${prefix}-ca`), refreshIntervalMs: reloadMs });
  const identityProvider = tls.cert
    ? new grpc.experimental.FileWatcherCertificateProvider({
        certificateFile: mustExist(tls.cert, `${prefix}-cert`),
        privateKeyFile: mustExist(tls.key!, `${prefix}-key`),
        refreshIntervalMs: reloadMs,
      })
    : null;
  const options: grpc.ChannelOptions = {};
  if (tls.serverName) {
    options["grpc.ssl_target_name_override"] = tls.serverName;
    options["grpc.default_authority"] = tls.serverName;
  }
  return { credentials: grpc.experimental.createCertificateProviderChannelCredentials(caProvider, identityProvider), options };
}

/** How long the relay waits for its certificate files to be read before it gives up. */
const FIRST_READ_TIMEOUT_MS = 10_000;

/**
 * Resolves once `provider` has read its files. The provider reads them in the background; a server bound before
 * that drops every connection (clients see ECONNRESET), so the relay binds only after this.
 */
function firstRead(provider: grpc.experimental.FileWatcherCertificateProvider, kind: "identity" | "ca", files: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new UsageError(`could not read ${files} within ${FIRST_READ_TIMEOUT_MS / 1000} s`)), FIRST_READ_TIMEOUT_MS);
    // Stays registered: removing the last listener would stop the provider's refresh before the server adds its own.
    const listener = (update: unknown) => {
      if (update) {
        clearTimeout(timer);
        resolve();
      }
    };
    if (kind === "identity") provider.addIdentityCertificateListener(listener);
    else provider.addCaCertificateListener(listener);
  });
}

/**
 * The relay's own server: plaintext, TLS, or mTLS when a client CA is given; `ready` resolves once the
 * certificate files have been read (bind the server after it).
 */
export function serverCredentials(tls: ServerTlsConfig, reloadMs: number): { credentials: grpc.ServerCredentials; ready: Promise<void> } {
  if (!!tls.cert !== !!tls.key) throw new UsageError("--tls-cert and --tls-key go together; give both or neither");
  if (!tls.cert) {
    if (tls.clientCa) throw new UsageError("--tls-client-ca needs --tls-cert and --tls-key (the server's own certificate)");
    return { credentials: grpc.ServerCredentials.createInsecure(), ready: Promise.resolve() };
  }
  const identity = new grpc.experimental.FileWatcherCertificateProvider({
    certificateFile: mustExist(tls.cert, "--tls-cert"),
    privateKeyFile: mustExist(tls.key!, "--tls-key"),
    refreshIntervalMs: reloadMs,
  });
  const clientCa = tls.clientCa
    ? new grpc.experimental.FileWatcherCertificateProvider({ caCertificateFile: mustExist(tls.clientCa, "--tls-client-ca"), refreshIntervalMs: reloadMs })
    : null;
  const ready = Promise.all([
    firstRead(identity, "identity", `--tls-cert ${tls.cert} and --tls-key ${tls.key}`),
    clientCa ? firstRead(clientCa, "ca", `--tls-client-ca ${tls.clientCa}`) : undefined,
  ]).then(() => undefined);
  // grpc-js takes the identity provider first here, whatever the parameter names say.
  return { credentials: grpc.experimental.createCertificateProviderServerCredentials(identity, clientCa, clientCa !== null), ready };
}
