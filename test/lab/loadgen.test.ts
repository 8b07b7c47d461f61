// The benchmark's load generator against real HTTP servers on loopback: a
// block runs over its control socket, every request goes to both targets at
// the same instant (paired), and a stall of the load generator's own event
// loop shows up as its send lag and loop delay, so it can be told apart from
// the replica's latency.
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
  /** What each frontend stand-in received, in order. */
  const received: string[][] = [[], []];
  const twins = [0, 1].map((i) => http.createServer((req, res) => {
    received[i].push(`${req.method} ${req.url} ${req.headers.cookie}`);
    req.resume();
    // The second target answers 20 ms later, so its side of every pair is slower.
    setTimeout(() => res.end("ok"), i === 1 ? 20 : 0);
  }));
  let twinAddresses: string[] = [];
  let frontendAddress = "";
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
    frontendAddress = `127.0.0.1:${port}`;
    for (const t of twins) await new Promise<void>((resolve) => t.listen(0, "127.0.0.1", resolve));
    twinAddresses = twins.map((t) => `127.0.0.1:${(t.address() as { port: number }).port}`);
    control = await serveBlocks(socketPath);
  });

  afterAll(async () => {
    control?.close();
    for (const server of [frontend, ...twins]) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("reports a stall of its own event loop as send lag and loop delay, inside the measured latency", async () => {
    const { status, body } = await postBlock(socketPath, { rate: 50, duration: 3, warmup: 0.1, targets: [{ frontend: frontendAddress }] });
    expect(status).toBe(200);
    const { load } = JSON.parse(body) as BlockResult;
    const [t] = load.targets;
    expect(t.completed).toBe(load.scheduled);
    expect(t.sendLagUs).toHaveLength(load.scheduled);
    const maxLagMs = Math.max(...t.sendLagUs) / 1000;
    expect(maxLagMs).toBeGreaterThanOrEqual(STALL_MS * 0.8);
    expect(load.loopDelayMs.max).toBeGreaterThanOrEqual(STALL_MS * 0.8);
    expect(Math.max(...t.latenciesUs) / 1000).toBeGreaterThanOrEqual(maxLagMs);
    // The stall (0.4 s in) delays the requests due during it and while the backlog goes out; the open model then
    // keeps its schedule again, so the last third goes out on time. Its median is asserted, as other work on the
    // machine can stall the loop again for a moment.
    const lastThird = t.sendLagUs.slice(Math.ceil((load.scheduled * 2) / 3)).sort((x, y) => x - y);
    expect(lastThird.length).toBeGreaterThan(40);
    expect(lastThird[Math.floor(lastThird.length / 2)]).toBeLessThan(20_000);
  });

  test("sends the same requests to both targets of a pair and records each latency under its pair", async () => {
    const { status, body } = await postBlock(socketPath, { rate: 40, duration: 1.2, warmup: 0.2, targets: twinAddresses.map((frontend) => ({ frontend })) });
    expect(status).toBe(200);
    const { load } = JSON.parse(body) as BlockResult;
    expect(received[0].length).toBeGreaterThanOrEqual(40);
    // The same requests; two that go out together on separate connections may arrive in either order.
    expect([...received[1]].sort()).toEqual([...received[0]].sort());
    expect(new Set(received[0]).size).toBeGreaterThan(5);
    const [a, b] = load.targets;
    expect([a.completed, b.completed]).toEqual([load.scheduled, load.scheduled]);
    expect(a.latenciesUs).toHaveLength(load.scheduled);
    expect(b.latenciesUs).toHaveLength(load.scheduled);
    // Each pair's twin on the slower target took about 20 ms longer: asserted on the median pair, as a busy
    // suite can stall the faster member of many pairs too.
    const differences = a.latenciesUs.map((us, i) => b.latenciesUs[i] - us).sort((x, y) => x - y);
    expect(differences[Math.floor(differences.length / 2)]).toBeGreaterThan(15_000);
  });

  test("rejects a block without a positive rate with a message that says what to send", async () => {
    const { status, body } = await postBlock(socketPath, { rate: 0, duration: 1, warmup: 0, targets: [{ frontend: frontendAddress }] });
    expect(status).toBe(400);
    expect(body).toMatch(/needs rate > 0/);
  });

  test("rejects a block without targets with a message that says what to send", async () => {
    const { status, body } = await postBlock(socketPath, { rate: 10, duration: 1, warmup: 0, targets: [] });
    expect(status).toBe(400);
    expect(body).toMatch(/needs targets: \[\{ "frontend": "host:port" \}/);
  });
});
