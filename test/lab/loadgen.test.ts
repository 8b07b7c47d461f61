// The benchmark's load generator against a real HTTP server on loopback: a
// block runs over its control socket, and a stall of the load generator's own
// event loop shows up as its send lag and loop delay, so it can be told apart
// from the replica's latency.
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { serveBlocks, type BlockRequest, type BlockResult } from "../../lab/replica/loadgen";

const STALL_MS = 150;

function postBlock(socketPath: string, block: BlockRequest): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method: "POST", path: "/block" }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end(JSON.stringify(block));
  });
}

describe("the benchmark's load generator", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fl-loadgen-"));
  const socketPath = path.join(dir, "control.sock");
  let requests = 0;
  // The frontend stand-in runs in this process, so busy-waiting in it stalls the load generator's event loop too.
  const frontend = http.createServer((req, res) => {
    requests++;
    if (requests === 20) {
      const until = performance.now() + STALL_MS;
      while (performance.now() < until);
    }
    req.resume();
    res.end("ok");
  });
  let control: http.Server | undefined;

  beforeAll(async () => {
    await new Promise<void>((resolve) => frontend.listen(0, "127.0.0.1", resolve));
    const { port } = frontend.address() as { port: number };
    control = await serveBlocks(socketPath, `127.0.0.1:${port}`, "");
  });

  afterAll(async () => {
    control?.close();
    frontend.closeAllConnections();
    await new Promise((resolve) => frontend.close(resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("reports a stall of its own event loop as send lag and loop delay, inside the measured latency", async () => {
    const { status, body } = await postBlock(socketPath, { rate: 50, duration: 1.5, warmup: 0.1 });
    expect(status).toBe(200);
    const { load } = JSON.parse(body) as BlockResult;
    expect(load.completed).toBe(load.scheduled);
    expect(load.sendLagUs).toHaveLength(load.scheduled);
    const maxLagMs = Math.max(...load.sendLagUs) / 1000;
    expect(maxLagMs).toBeGreaterThanOrEqual(STALL_MS * 0.8);
    expect(load.loopDelayMs.max).toBeGreaterThanOrEqual(STALL_MS * 0.8);
    expect(Math.max(...load.latenciesUs) / 1000).toBeGreaterThanOrEqual(maxLagMs);
    // Only the requests due during the stall were late.
    expect(load.sendLagUs.filter((us) => us > 50_000).length).toBeLessThan(load.scheduled / 4);
  });

  test("rejects a block without a positive rate with a message that says what to send", async () => {
    const { status, body } = await postBlock(socketPath, { rate: 0, duration: 1, warmup: 0 });
    expect(status).toBe(400);
    expect(body).toMatch(/needs rate > 0/);
  });
});
