// --server and the TLS flags every client command (observe, status) takes.
import type { FlagSpec, ParsedFlags } from "./flags";
import { stringFlag } from "./flags";
import { DEFAULT_SERVER } from "./observer-client";
import type { ClientTlsFiles } from "./tls";

export const SERVER_FLAGS: FlagSpec = {
  server: { type: "string" },
  "tls-ca": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "tls-server-name": { type: "string" },
  help: { type: "boolean", short: "h" },
};

export const SERVER_FLAGS_HELP = `connection:
  --server host:port        relay or agent to ask (default ${DEFAULT_SERVER})
  --tls-ca FILE             CA that signed the server certificate (turns TLS on)
  --tls-cert FILE           client certificate, for servers that require mTLS
  --tls-key FILE            client key
  --tls-server-name NAME    name expected in the server certificate
Every flag can also be set as FLOWLENS_<FLAG> (e.g. FLOWLENS_SERVER).`;

export function serverAndTls(flags: ParsedFlags): { server: string; tls: ClientTlsFiles } {
  return {
    server: stringFlag(flags, "server") ?? DEFAULT_SERVER,
    tls: {
      ca: stringFlag(flags, "tls-ca"),
      cert: stringFlag(flags, "tls-cert"),
      key: stringFlag(flags, "tls-key"),
      serverName: stringFlag(flags, "tls-server-name"),
    },
  };
}
