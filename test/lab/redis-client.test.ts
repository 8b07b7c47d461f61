/**
 * The replica cart's Redis client against a real redis-server on loopback: a connection refused (the cart
 * started before Redis listened) or closed fails what waits on it and is replaced on the next command,
 * instead of leaving every later command unanswered.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as net from "node:net";
import { RedisConnection } from "../../lab/replica/redis";

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts redis-server on 127.0.0.1:port; resolves once it accepts connections. */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: "127.0.0.1", port }, () => (s.destroy(), resolve(true)));
      s.on("error", () => resolve(false));
    });
    if (up) return child;
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not accept connections within 10 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stopRedis(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.on("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

/** The command's outcome within 5 s: its reply, its error, or "no answer". */
async function outcome(p: Promise<unknown>): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p.then((v) => ({ reply: v }), (e: Error) => ({ error: e.message })),
      new Promise((resolve) => (timer = setTimeout(() => resolve("no answer"), 5000))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe("the cart's Redis connection", () => {
  let redis: ChildProcess | undefined;
  let client: RedisConnection | undefined;
  afterEach(async () => {
    client?.close();
    await stopRedis(redis);
  });

  test("refused before Redis listens: the command fails with the address, the next one connects anew", async () => {
    const port = await freePort();
    client = new RedisConnection("127.0.0.1", port);
    expect(await outcome(client.command("PING"))).toEqual({ error: expect.stringContaining(`redis connection to 127.0.0.1:${port}`) });
    redis = await startRedis(port);
    expect(await outcome(client.command("HINCRBY", "cart:u", "p1", "2"))).toEqual({ reply: 2 });
    expect(await outcome(client.command("HGETALL", "cart:u"))).toEqual({ reply: ["p1", "2"] });
  });

  test("closed by a restart: what waited fails, and the next command reaches the new server", async () => {
    const port = await freePort();
    redis = await startRedis(port);
    client = new RedisConnection("127.0.0.1", port);
    expect(await outcome(client.command("SET", "k", "v"))).toEqual({ reply: "OK" });
    // A command blocked in the server when it dies: its reply never comes, so it fails with the connection.
    const waiting = outcome(client.command("BLPOP", "nothing", "0"));
    await new Promise((r) => setTimeout(r, 100));
    await stopRedis(redis);
    expect(await waiting).toEqual({ error: expect.stringMatching(/redis connection to 127\.0\.0\.1:\d+ (closed|: )/) });
    redis = await startRedis(port);
    expect(await outcome(client.command("GET", "k"))).toEqual({ reply: null });
  });
});
