// A small cluster for the UI tests: four pods in three namespaces on a test
// node (198.18.5.0/24, a bridge with no uplink), steady traffic between them
// (one path dropped by an nft rule), the real agent observing them and the
// real relay in front of it with a history directory.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { TestNode, type TestPod } from "../agent/daemon/_test-node";
import { startFlowlens, stopFlowlens, type FlowlensProcess } from "./_processes";

export const CART_PORT = 8080;
export const REDIS_PORT = 6379;
export const PAYMENT_PORT = 9999;
/** How long the pods keep talking; the tests finish well before. */
const LOAD_SECONDS = 420;

export class TestCluster {
  readonly node = new TestNode();
  readonly ns = {
    shop: `shop-${this.node.suffix}`,
    data: `data-${this.node.suffix}`,
    payments: `payments-${this.node.suffix}`,
  };
  pods!: { frontend: TestPod; cart: TestPod; redis: TestPod; payment: TestPod };
  agent?: FlowlensProcess;
  relay?: FlowlensProcess;
  relayAddress = "";
  private tmpDir = "";

  async start(): Promise<void> {
    this.node.create();
    const n = this.node;
    this.pods = {
      frontend: n.addPod("frontend", "198.18.5.10"),
      cart: n.addPod("cart", "198.18.5.11"),
      redis: n.addPod("redis", "198.18.5.12"),
      payment: n.addPod("payment", "198.18.5.13"),
    };
    const { frontend, cart, redis, payment } = this.pods;
    n.nft(payment, `table inet flui${n.suffix} {\n chain input {\n type filter hook input priority 0; policy accept;\n udp dport ${PAYMENT_PORT} drop\n }\n}\n`);
    await n.startServer(cart, ["tcp-server", CART_PORT, 1500]);
    await n.startServer(redis, ["tcp-server", REDIS_PORT, 300]);
    // The agent observes the network namespaces of processes in its cgroup
    // subtree: payment needs a process of its own for its drops to be seen.
    await n.startServer(payment, ["udp-server", PAYMENT_PORT + 1, 10]);

    this.tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), "flowlens-ui-"));
    const metadataFile = path.join(this.tmpDir, "pods.json");
    const pod = (p: TestPod, namespace: string, name: string, workload: string, kind: string) => ({
      namespace, name, node: n.netns, labels: { app: workload }, workload: { name: workload, kind }, ips: [p.ip], cgroupPath: p.cgroupDir,
    });
    fs.writeFileSync(
      metadataFile,
      JSON.stringify({
        pods: [
          pod(frontend, this.ns.shop, "frontend-6d8f7c9b5d-x2k4p", "frontend", "Deployment"),
          pod(cart, this.ns.shop, "cart-7b9c8d6f4-q8w2e", "cart", "Deployment"),
          pod(redis, this.ns.data, "redis-0", "redis", "StatefulSet"),
          pod(payment, this.ns.payments, "payment-5f6d7e8c9-m3n4b", "payment", "Deployment"),
        ],
        services: [],
      }),
    );
    this.agent = await startFlowlens(
      ["agent", "--node-name", `node-${n.suffix}`, "--listen-address", "127.0.0.1:0", "--metrics-address", "127.0.0.1:0",
        "--cgroup-root", n.cgroupDir, "--metadata-file", metadataFile, "--flush-interval", "500ms", "--ring-capacity", "8192"],
      /gRPC on port (\d+), metrics on port (\d+)/,
    );
    const agentPort = Number(this.agent.match[1]);
    this.relay = await startFlowlens(
      ["relay", "--peers", `127.0.0.1:${agentPort}`, "--listen-address", "127.0.0.1:0", "--history-dir", path.join(this.tmpDir, "history"), "--sort-window", "100ms"],
      /listening on 127\.0\.0\.1:(\d+)/,
    );
    this.relayAddress = `127.0.0.1:${this.relay.match[1]}`;

    const load = path.join(__dirname, "_pod-load.ts");
    n.spawnInPod(frontend, ["node", "--import", "tsx", load, String(LOAD_SECONDS), "300", `tcp:${cart.ip}:${CART_PORT}`, `udp:${payment.ip}:${PAYMENT_PORT}`]);
    n.spawnInPod(cart, ["node", "--import", "tsx", load, String(LOAD_SECONDS), "500", `tcp:${redis.ip}:${REDIS_PORT}`]);
  }

  async destroy(): Promise<void> {
    try {
      await stopFlowlens(this.relay);
      await stopFlowlens(this.agent);
    } finally {
      await this.node.destroy();
      if (this.tmpDir) fs.rmSync(this.tmpDir, { recursive: true, force: true });
    }
  }
}
