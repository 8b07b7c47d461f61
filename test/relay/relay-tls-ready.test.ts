// The relay listens only once its certificate files are read: gRPC's file watcher reads them in the background,
// and a server bound before that drops every connection (clients saw ECONNRESET on a busy machine). Here the
// server key is a FIFO that gives nothing until the test writes it, so the read is as slow as the test wants.
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { relayClient, runCli, startRelay, stop, unary, type Proc } from "./_processes";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "flowlens-relay-tls-"));
let relay: Proc | undefined;

afterAll(async () => {
  await stop(relay);
  // A relay that never got as far as `relay` (the test failed first) may sit reading the FIFO: its command line
  // names this test's directory.
  spawnSync("pkill", ["-9", "-f", tmp]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

test("the relay answers its very first TLS connection, even when its key file is slow to read", async () => {
  const made = await runCli(["certs", "--out", path.join(tmp, "pki")]);
  expect(made.code).toBe(0);
  const pki = path.join(tmp, "pki");
  const keyFifo = path.join(tmp, "relay-tls.key");
  execFileSync("mkfifo", [keyFifo]);

  let listening = false;
  const started = startRelay([
    "--peers", "127.0.0.1:1",
    "--tls-cert", path.join(pki, "server", "tls.crt"),
    "--tls-key", keyFifo,
    "--tls-client-ca", path.join(pki, "ca", "ca.crt"),
    "--tls-reload-interval", "1h",
  ]).then((p) => {
    listening = true;
    return p;
  });
  await new Promise((r) => setTimeout(r, 3000));
  expect(listening).toBe(false); // still waiting for its key

  // Opening the FIFO for writing blocks until the relay opens it for reading: it is trying to read it.
  fs.writeFileSync(keyFifo, fs.readFileSync(path.join(pki, "server", "tls.key")));
  relay = await started;

  const pem = (...p: string[]) => fs.readFileSync(path.join(pki, ...p));
  const client = relayClient(relay.port, grpc.credentials.createSsl(pem("ca", "ca.crt"), pem("client", "tls.key"), pem("client", "tls.crt")));
  try {
    // The first call, made the moment the relay said it listens, with no retry.
    const status = await unary<{ num_connected_nodes?: { value: number } }>(client, "ServerStatus");
    expect(status).toBeDefined();
  } finally {
    client.close();
  }
}, 60_000);
