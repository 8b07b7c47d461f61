// `flowlens ui`: serves the service map and live flows, backed by a relay's
// Observer API. Returns when the process is told to stop (SIGINT/SIGTERM).
import type { AddressInfo } from "node:net";
import { createAuthenticator } from "./auth";
import { ConfigError, loadConfig, usage, type UiConfig } from "./config";
import { FlowHub } from "./flow-hub";
import { createUiServer } from "./http-server";
import { NamespaceAccess } from "./namespace-access";
import { RelayConnection } from "./relay-client";

export interface RunningUi {
  /** The URL the page is served on. */
  url: string;
  close(): Promise<void>;
}

/** Starts the UI from a parsed configuration; used by `run` and by tests and benchmarks. */
export async function startUi(config: UiConfig): Promise<RunningUi> {
  const auth = createAuthenticator(config.auth);
  const access = new NamespaceAccess(config.namespaceAllow);
  const relay = new RelayConnection(config, access.relayWhitelist());
  const hub = new FlowHub(relay, access);
  const server = createUiServer({ auth, hub, relay, access });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(new Error(`cannot listen on ${config.listenHost}:${config.listenPort}: ${err.code ?? err.message}; pick another --listen-address`)),
    );
    server.listen(config.listenPort, config.listenHost, () => resolve());
  });
  relay.start();
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(":") ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        relay.stop();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(usage());
    return 0;
  }
  let config: UiConfig;
  try {
    config = loadConfig(argv);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`flowlens ui: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const ui = await startUi(config);
  const access = config.namespaceAllow ? `namespaces ${config.namespaceAllow.join(",")}` : "all namespaces";
  process.stdout.write(`flowlens ui: serving ${ui.url} (relay ${config.relay}, sign-in: ${config.auth.kind}, ${access})\n`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await ui.close();
  return 0;
}
