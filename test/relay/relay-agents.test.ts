// Three real agents (each observing its own test node's cgroup, traffic in
// network namespaces on 198.18.3.0/24) behind one real relay, everything over
// mTLS with certificates from `flowlens certs`.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import type { Flow, GetFlowsResponse } from "../../proto/types";
import { timestampFromMillis } from "../../proto/types";
import { TestNode, type TestPod } from "../agent/daemon/_test-node";
import { collect, follow, relayClient, runCli, startAgent, startRelay, stop, timeUs, unary, waitFor, type Client, type Proc } from "./_processes";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "flowlens-relay-test-"));
const pki = path.join(tmp, "pki");
const otherPki = path.join(tmp, "other");
const relayTlsDir = path.join(tmp, "relay-tls");
const nodes = [new TestNode(), new TestNode(), new TestNode()];
const nodeNames = nodes.map((n, i) => `relay-node${i}-${n.suffix}`);
const clients: TestPod[] = [];
const serverIps: string[] = [];
const agents: (Proc | undefined)[] = [];
const agentPorts: number[] = [];
const ringCapacity = [4096, 4096, 40];
let relay: Proc | undefined;
let client: Client;
const streams: { cancel: () => void }[] = [];

const pem = (...p: string[]) => fs.readFileSync(path.join(...p));
const clientCredentials = (caDir = pki) => grpc.credentials.createSsl(pem(caDir, "ca", "ca.crt"), pem(pki, "client", "tls.key"), pem(pki, "client", "tls.crt"));
const tlsArgs = (caDir = pki) => ["--tls-ca", path.join(caDir, "ca", "ca.crt"), "--tls-cert", path.join(pki, "client", "tls.crt"), "--tls-key", path.join(pki, "client", "tls.key")];
const flows = (rs: GetFlowsResponse[]) => rs.filter((r) => r.flow).map((r) => r.flow!);
const uuids = (fs_: Flow[]) => fs_.map((f) => f.uuid!);
const statusesOf = (rs: GetFlowsResponse[], node: string) => rs.filter((r) => r.node_status?.node_names?.includes(node)).map((r) => r.node_status!.state_change);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function agentArgs(i: number, port = 0) {
  return {
    nodeName: nodeNames[i],
    cgroupRoot: nodes[i].cgroupDir,
    port,
    ringCapacity: ringCapacity[i],
    tls: { cert: path.join(pki, "server", "tls.crt"), key: path.join(pki, "server", "tls.key"), clientCa: path.join(pki, "ca", "ca.crt") },
  };
}

const TRAFFIC = path.join(__dirname, "_traffic.ts");

async function traffic(i: number, connections: number): Promise<void> {
  await nodes[i].run(clients[i], ["node", "--import", "tsx", TRAFFIC, "tcp-clients", serverIps[i], "8080", String(connections)]);
}

async function startServer(node: TestNode, pod: TestPod): Promise<void> {
  const child = node.spawnInPod(pod, ["node", "--import", "tsx", TRAFFIC, "tcp-server", "8080"]);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d) => String(d).includes("listening") && resolve());
    child.on("exit", (code) => reject(new Error(`tcp-server in ${pod.name} exited ${code}`)));
  });
}

/** The agent's own ring, asked directly (mTLS), from `sinceMs` on. */
async function agentFlows(i: number, sinceMs: number): Promise<Flow[]> {
  const direct = relayClient(agentPorts[i], clientCredentials(), { "grpc.ssl_target_name_override": "localhost" });
  try {
    return flows(await collect(direct, { since: timestampFromMillis(sinceMs) }));
  } finally {
    direct.close();
  }
}

beforeAll(async () => {
  for (const dir of [pki, otherPki]) {
    const made = await runCli(["certs", "--out", dir]);
    if (made.code !== 0) throw new Error(`flowlens certs failed: ${made.stderr}`);
  }
  fs.mkdirSync(relayTlsDir);
  for (const f of ["tls.crt", "tls.key"]) fs.copyFileSync(path.join(pki, "server", f), path.join(relayTlsDir, f));
  nodes.forEach((node, i) => {
    node.create();
    clients.push(node.addPod("client-a", `198.18.3.${10 * i + 11}`));
    serverIps.push(`198.18.3.${10 * i + 12}`);
  });
  for (let i = 0; i < nodes.length; i++) {
    const server = nodes[i].addPod("server-b", serverIps[i]);
    await startServer(nodes[i], server);
    agents[i] = await startAgent(agentArgs(i));
    agentPorts[i] = agents[i]!.port;
  }
  relay = await startRelay([
    "--peers", agentPorts.map((p) => `127.0.0.1:${p}`).join(","),
    "--peer-tls-ca", path.join(pki, "ca", "ca.crt"),
    "--peer-tls-cert", path.join(pki, "client", "tls.crt"),
    "--peer-tls-key", path.join(pki, "client", "tls.key"),
    "--peer-tls-server-name", "localhost",
    "--tls-cert", path.join(relayTlsDir, "tls.crt"),
    "--tls-key", path.join(relayTlsDir, "tls.key"),
    "--tls-client-ca", path.join(pki, "ca", "ca.crt"),
    "--tls-reload-interval", "500ms",
    "--history-dir", path.join(tmp, "history"),
    "--resume-window", "5s",
  ]);
  client = relayClient(relay.port, clientCredentials());
  await waitFor("all agents connected", async () => ((await unary<any>(client, "ServerStatus")).num_connected_nodes?.value ?? 0) === 3);
}, 120_000);

afterAll(async () => {
  streams.forEach((s) => s.cancel());
  client?.close();
  await stop(relay);
  for (const a of agents) {
    if (a?.child.exitCode === null) a.child.kill("SIGCONT");
    await stop(a);
  }
  for (const n of nodes) await n.destroy().catch(() => undefined);
  fs.rmSync(tmp, { recursive: true, force: true });
}, 60_000);

test("flows of every node arrive merged in time order, each once", async () => {
  const t0 = Date.now() - 1000;
  for (let i = 0; i < nodes.length; i++) await traffic(i, 2);
  await sleep(2500);
  const got = flows(await collect(client, { since: timestampFromMillis(t0) }));
  const names = new Set(got.map((f) => f.node_name));
  for (const n of nodeNames) expect(names).toContain(n);
  const times = got.map((f) => timeUs({ flow: f }));
  for (let k = 1; k < times.length; k++) expect(times[k]).toBeGreaterThanOrEqual(times[k - 1]);
  expect(new Set(uuids(got)).size).toBe(got.length);
  const tcp = got.filter((f) => f.IP?.source === clients[1].ip && f.l4?.TCP?.destination_port === 8080);
  expect(tcp.length).toBeGreaterThan(0);
});

test("filters reach the agents' streams and bad filters are refused with a one-line cause", async () => {
  const since = timestampFromMillis(Date.now() - 60_000);
  const fromNode1 = flows(await collect(client, { since, whitelist: [{ source_ip: [clients[1].ip] }] }));
  expect(fromNode1.length).toBeGreaterThan(0);
  for (const f of fromNode1) {
    expect(f.IP?.source).toBe(clients[1].ip);
    expect(f.node_name).toBe(nodeNames[1]);
  }
  const notNode0 = flows(await collect(client, { since, blacklist: [{ node_name: [nodeNames[0]] }] }));
  expect(notNode0.some((f) => f.node_name === nodeNames[2])).toBe(true);
  expect(notNode0.some((f) => f.node_name === nodeNames[0])).toBe(false);

  const cli = await runCli(["observe", "--server", `127.0.0.1:${relay!.port}`, ...tlsArgs(), "--since", "1m", "--to-ip", serverIps[2], "--to-port", "8080", "-o", "json"]);
  expect(cli.code).toBe(0);
  const printed = cli.stdout.trim().split("\n").map((l) => JSON.parse(l)).filter((r) => r.flow);
  expect(printed.length).toBeGreaterThan(0);
  for (const r of printed) {
    expect(r.flow.IP.destination).toBe(serverIps[2]);
    expect(r.flow.l4.TCP.destination_port).toBe(8080);
    expect(typeof r.flow.time).toBe("string");
  }

  const badFlag = await runCli(["observe", "--server", `127.0.0.1:${relay!.port}`, "--verdict", "MAYBE"]);
  expect(badFlag.code).toBe(2);
  expect(badFlag.stderr.trim().split("\n")).toHaveLength(1);
  expect(badFlag.stderr).toMatch(/--verdict "MAYBE" is not a verdict; use one of FORWARDED/);

  await expect(collect(client, { whitelist: [{ source_ip: ["not-an-ip"] }] })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
});

test("a stopped agent is reported UNAVAILABLE then CONNECTED, and nothing in its ring is lost or duplicated", async () => {
  const sinceMs = Date.now();
  const stream = follow(client, { since: timestampFromMillis(sinceMs), whitelist: [{ node_name: [nodeNames[1]] }] });
  streams.push(stream);
  await traffic(1, 2);
  await waitFor("flows from node 1", () => flows(stream.responses).length > 0);

  agents[1]!.child.kill("SIGSTOP");
  await traffic(1, 2);
  await waitFor("node 1 reported unavailable", () => statusesOf(stream.responses, nodeNames[1]).includes("NODE_UNAVAILABLE"));
  const status = await runCli(["status", "--server", `127.0.0.1:${relay!.port}`, ...tlsArgs()]);
  expect(status.stdout).toContain("Connected Nodes: 2/3");
  expect(status.stdout).toContain(`Unavailable Nodes: 1 (${nodeNames[1]})`);

  agents[1]!.child.kill("SIGCONT");
  await waitFor("node 1 reported connected again", () => statusesOf(stream.responses, nodeNames[1]).slice(-1)[0] === "NODE_CONNECTED");
  await traffic(1, 2);

  let inRing: string[] = [];
  await waitFor("the relay stream to hold every flow of the agent's ring", async () => {
    inRing = uuids(await agentFlows(1, sinceMs));
    const seen = new Set(uuids(flows(stream.responses)));
    return inRing.length > 0 && inRing.every((u) => seen.has(u));
  });
  const streamed = uuids(flows(stream.responses));
  expect(new Set(streamed).size).toBe(streamed.length);
  expect(new Set(streamed)).toEqual(new Set(inRing));
  expect(stream.errors).toEqual([]);
});

test("an agent killed and restarted is reported UNAVAILABLE then CONNECTED and its new flows follow", async () => {
  const stream = follow(client, { whitelist: [{ node_name: [nodeNames[0]] }] });
  streams.push(stream);
  await waitFor("node 0 connected in the stream", () => statusesOf(stream.responses, nodeNames[0]).includes("NODE_CONNECTED"));
  await stop(agents[0], "SIGKILL");
  await waitFor("node 0 reported unavailable", () => statusesOf(stream.responses, nodeNames[0]).includes("NODE_UNAVAILABLE"));
  const restartedMs = Date.now();
  agents[0] = await startAgent(agentArgs(0, agentPorts[0]));
  await waitFor("node 0 reported connected again", () => statusesOf(stream.responses, nodeNames[0]).slice(-1)[0] === "NODE_CONNECTED");
  await traffic(0, 2);
  let inRing: string[] = [];
  await waitFor("the restarted agent's flows in the relay stream", async () => {
    inRing = uuids(await agentFlows(0, restartedMs));
    const seen = new Set(uuids(flows(stream.responses)));
    return inRing.length > 0 && inRing.every((u) => seen.has(u));
  });
  const streamed = uuids(flows(stream.responses));
  expect(new Set(streamed).size).toBe(streamed.length);
});

test("a since/until range is answered from history after the agent's ring has wrapped", async () => {
  const sinceMs = Date.now();
  const live = follow(client, { whitelist: [{ node_name: [nodeNames[2]] }] });
  streams.push(live);
  await waitFor("node 2 stream open", () => statusesOf(live.responses, nodeNames[2]).includes("NODE_CONNECTED"));
  await traffic(2, 12);
  await sleep(2000);
  const untilMs = Date.now();
  await sleep(1000);
  const seenLive = flows(live.responses).filter((f) => timeUs({ flow: f }) >= sinceMs * 1000 && timeUs({ flow: f }) <= untilMs * 1000);
  const ring = await agentFlows(2, sinceMs);
  // The ring holds 40 flows: the oldest of the range are gone from the agent.
  expect(seenLive.length).toBeGreaterThan(ringCapacity[2]);
  expect(ring.length).toBeLessThanOrEqual(ringCapacity[2]);
  expect(ring.map((f) => f.uuid)).not.toContain(seenLive[0].uuid);

  const range = flows(await collect(client, { since: timestampFromMillis(sinceMs), until: timestampFromMillis(untilMs), whitelist: [{ node_name: [nodeNames[2]] }] }));
  expect(new Set(uuids(range)).size).toBe(range.length);
  expect(new Set(uuids(range))).toEqual(new Set(uuids(seenLive)));
  const times = range.map((f) => timeUs({ flow: f }));
  for (let k = 1; k < times.length; k++) expect(times[k]).toBeGreaterThanOrEqual(times[k - 1]);

  // Open-ended: history up to the seam, then the agent's ring, with nothing missing or doubled.
  const open = flows(await collect(client, { since: timestampFromMillis(sinceMs), whitelist: [{ node_name: [nodeNames[2]] }] }));
  expect(new Set(uuids(open)).size).toBe(open.length);
  const openSet = new Set(uuids(open));
  for (const f of flows(live.responses)) if (timeUs({ flow: f }) >= sinceMs * 1000) expect(openSet).toContain(f.uuid);
});

test("clients with the wrong CA or no client certificate are refused; a bad server address is named", async () => {
  const server = `127.0.0.1:${relay!.port}`;
  const ok = await runCli(["status", "--server", server, ...tlsArgs()]);
  expect(ok.code).toBe(0);
  expect(ok.stdout).toMatch(/Connected Nodes: \d\/3/);

  const wrongCa = await runCli(["status", "--server", server, ...tlsArgs(otherPki)]);
  expect(wrongCa.code).toBe(1);
  expect(wrongCa.stderr.trim().split("\n")).toHaveLength(1);
  expect(wrongCa.stderr).toMatch(/TLS handshake with 127\.0\.0\.1:\d+ failed .*--tls-ca/);

  const noClientCert = await runCli(["status", "--server", server, "--tls-ca", path.join(pki, "ca", "ca.crt")]);
  expect(noClientCert.code).toBe(1);

  const plaintext = await runCli(["status", "--server", server]);
  expect(plaintext.code).toBe(1);
  expect(plaintext.stderr).toMatch(/pass --tls-ca/);

  const closed = await runCli(["status", "--server", "127.0.0.1:1"]);
  expect(closed.code).toBe(1);
  expect(closed.stderr).toMatch(/cannot reach 127\.0\.0\.1:1 .*start `flowlens relay`/);
});

test("a relay can take a Hubble relay as its upstream, and agents found through DNS", async () => {
  const peerTls = ["--peer-tls-ca", path.join(pki, "ca", "ca.crt"), "--peer-tls-cert", path.join(pki, "client", "tls.crt"), "--peer-tls-key", path.join(pki, "client", "tls.key"), "--peer-tls-server-name", "localhost"];
  const downstream = await startRelay(["--hubble-relay", `127.0.0.1:${relay!.port}`, ...peerTls]);
  const viaDns = await startRelay(["--peer-dns", `localhost:${agentPorts[2]}`, ...peerTls]);
  const c1 = relayClient(downstream.port);
  const c2 = relayClient(viaDns.port);
  try {
    await waitFor("the upstream relay's nodes counted", async () => ((await unary<any>(c1, "ServerStatus")).num_connected_nodes?.value ?? 0) === 3);
    const got = flows(await collect(c1, { since: timestampFromMillis(Date.now() - 120_000) }));
    expect(new Set(got.map((f) => f.node_name))).toEqual(new Set(nodeNames));
    expect(new Set(uuids(got)).size).toBe(got.length);
    const nodesUpstream = (await unary<any>(c1, "GetNodes")).nodes.map((n: { name: string }) => n.name).sort();
    expect(nodesUpstream).toEqual([...nodeNames].sort());

    await waitFor("the agent found through DNS connected", async () => ((await unary<any>(c2, "GetNodes")).nodes ?? []).some((n: any) => n.name === nodeNames[2] && n.state === "NODE_CONNECTED"));
    const dnsNodes = (await unary<any>(c2, "GetNodes")).nodes;
    expect(dnsNodes.find((n: any) => n.name === nodeNames[2]).address).toBe(`127.0.0.1:${agentPorts[2]}`);
  } finally {
    c1.close();
    c2.close();
    await stop(downstream);
    await stop(viaDns);
  }
});

test("a rotated server certificate is served to new connections without a restart", async () => {
  const server = `127.0.0.1:${relay!.port}`;
  for (const f of ["tls.crt", "tls.key"]) {
    fs.copyFileSync(path.join(otherPki, "server", f), path.join(relayTlsDir, `${f}.new`));
  }
  // Key first, then certificate, each by rename: a reader sees a matching pair within one reload interval.
  fs.renameSync(path.join(relayTlsDir, "tls.key.new"), path.join(relayTlsDir, "tls.key"));
  fs.renameSync(path.join(relayTlsDir, "tls.crt.new"), path.join(relayTlsDir, "tls.crt"));
  await sleep(1500);
  const withNewCa = await runCli(["status", "--server", server, ...tlsArgs(otherPki)]);
  expect(withNewCa.stderr).toBe("");
  expect(withNewCa.code).toBe(0);
  const withOldCa = await runCli(["status", "--server", server, ...tlsArgs()]);
  expect(withOldCa.code).toBe(1);
  expect(relay!.child.exitCode).toBeNull();
});
