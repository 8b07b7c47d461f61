// Kubernetes discovery against an HTTPS endpoint speaking the pods API (no API
// server runs on this machine): the request it makes, and agents coming and going.
import * as fs from "node:fs";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import type { AddressInfo } from "node:net";
import { KubernetesDiscovery } from "../../relay/discovery/kubernetes";
import type { PeerTarget } from "../../relay/discovery/types";
import { runCli } from "./_processes";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "flowlens-k8s-discovery-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const pod = (name: string, ip: string, node: string, ready = true) => ({
  metadata: { name },
  spec: { nodeName: node },
  status: { phase: "Running", podIP: ip, conditions: [{ type: "Ready", status: ready ? "True" : "False" }] },
});

test("agent pods are listed with the service account and followed as they come and go", async () => {
  const made = await runCli(["certs", "--out", path.join(tmp, "pki")]);
  expect(made.code).toBe(0);
  const sa = path.join(tmp, "sa");
  fs.mkdirSync(sa);
  fs.writeFileSync(path.join(sa, "token"), "test-token\n");
  fs.copyFileSync(path.join(tmp, "pki", "ca", "ca.crt"), path.join(sa, "ca.crt"));

  let items = [pod("agent-a", "10.0.0.2", "node-a"), pod("agent-b", "10.0.0.3", "node-b", false)];
  const requests: { url?: string; auth?: string }[] = [];
  const server = https.createServer({ cert: fs.readFileSync(path.join(tmp, "pki", "server", "tls.crt")), key: fs.readFileSync(path.join(tmp, "pki", "server", "tls.key")) }, (req, res) => {
    requests.push({ url: req.url, auth: req.headers.authorization });
    res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ kind: "PodList", items }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  const seen: PeerTarget[][] = [];
  const errors: string[] = [];
  const discovery = new KubernetesDiscovery("flowlens", "app.kubernetes.io/name=flowlens-agent", 4244, 200, (m) => errors.push(m), { KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: String(port) }, sa);
  try {
    discovery.start((peers) => seen.push(peers));
    const until = async (check: () => boolean) => {
      for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
    };
    await until(() => seen.length >= 1);
    expect(seen[0]).toEqual([{ address: "10.0.0.2:4244", name: "node-a" }]);
    expect(requests[0]).toEqual({ url: "/api/v1/namespaces/flowlens/pods?labelSelector=app.kubernetes.io%2Fname%3Dflowlens-agent", auth: "Bearer test-token" });

    items = [pod("agent-b", "10.0.0.3", "node-b"), pod("agent-c", "10.0.0.4", "node-c")];
    await until(() => seen.some((s) => s.length === 2));
    expect(seen[seen.length - 1]).toEqual([
      { address: "10.0.0.3:4244", name: "node-b" },
      { address: "10.0.0.4:4244", name: "node-c" },
    ]);
    expect(errors).toEqual([]);
  } finally {
    discovery.stop();
    await new Promise((r) => server.close(r));
  }
});
