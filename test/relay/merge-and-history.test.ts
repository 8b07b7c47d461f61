// The relay's building blocks on their own: the sort window, the wire scanner,
// the SQLite history store and peer-set bookkeeping.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { readyAgents } from "../../relay/discovery/kubernetes";
import { DnsDiscovery } from "../../relay/discovery/dns";
import { FlowHistory } from "../../relay/history/store";
import { PeerSet } from "../../relay/peer-set";
import { RecentUuids } from "../../relay/recent-uuids";
import { SortWindow } from "../../relay/sort-window";
import { decodeFlow, encodeResponse, scannedUuid, scanResponse } from "../../relay/wire";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "flowlens-relay-unit-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function encodedFlow(timeUs: number, uuid: string, node = "n1"): Buffer {
  const seconds = Math.floor(timeUs / 1e6);
  return encodeResponse({
    flow: { time: { seconds, nanos: (timeUs - seconds * 1e6) * 1000 }, uuid, node_name: node, IP: { source: "198.18.3.1", destination: "198.18.3.2" }, l4: { TCP: { source_port: 1, destination_port: 2 } } },
    node_name: node,
  });
}

test("the wire scanner reads kind, time, uuid and node without decoding the flow", () => {
  const buf = encodedFlow(1_777_000_000_123_456, "abc", "node-x");
  const s = scanResponse(buf);
  expect(s).toMatchObject({ kind: "flow", timeUs: 1_777_000_000_123_456, nodeName: "node-x" });
  expect(scannedUuid(buf, s)).toBe("abc");
  expect(scanResponse(buf, false).nodeName).toBe("");
  expect(scanResponse(encodeResponse({ node_status: { state_change: "NODE_CONNECTED", node_names: ["a"] } })).kind).toBe("node_status");
  expect(scanResponse(encodeResponse({ lost_events: { num_events_lost: 3 } })).kind).toBe("lost_events");
});

test("the sort window releases items in time order after the wait and never holds more than its cap", () => {
  const out: number[] = [];
  const w = new SortWindow(100, 5, (t) => out.push(t));
  const empty = Buffer.alloc(0);
  for (const t of [30, 10, 20]) w.push("a", t, empty, 0);
  w.drain(50);
  expect(out).toEqual([]);
  w.push("b", 5, empty, 60);
  w.drain(100);
  // The latest arrival (5) sorts first and is still waiting, so nothing may leave yet.
  expect(out).toEqual([]);
  w.drain(160);
  expect(out).toEqual([5, 10, 20, 30]);
  for (let t = 100; t < 110; t++) w.push("a", t, empty, 200);
  expect(out).toEqual([5, 10, 20, 30, 100, 101, 102, 103, 104]);
  expect(w.size).toBe(5);

  // Several sources, each mostly in order with stragglers, arriving in bursts: one time order out.
  const many: number[] = [];
  const big = new SortWindow(1000, 1_000_000, (t) => many.push(t));
  let x = 12345;
  for (let i = 0; i < 20_000; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    const straggler = x % 10 === 0;
    big.push(`node-${i % 7}`, straggler ? x % 100_000 : i * 5, empty, Math.floor(i / 300));
  }
  expect(big.size).toBe(20_000);
  big.drain(0, true);
  expect(many).toHaveLength(20_000);
  expect(many.every((t, i) => i === 0 || t >= many[i - 1])).toBe(true);

  // Flows from one source keep their arrival order when their times are equal.
  const tied: Buffer[] = [];
  const t = new SortWindow(0, 100, (_t, f) => tied.push(f));
  const frames = [Buffer.from("a"), Buffer.from("b"), Buffer.from("c")];
  t.push("x", 7, frames[0], 1);
  t.push("y", 7, frames[1], 2);
  t.push("x", 7, frames[2], 3);
  t.drain(3);
  expect(tied.map(String)).toEqual(["a", "b", "c"]);
});

test("recent uuids: a stream starting from an earlier time drops what was delivered from then on, newer flows pass", () => {
  const r = new RecentUuids(10_000);
  const uuid = (u: string) => Buffer.from(`xx${u}`);
  const record = (t: number, u: string) => r.record(t, uuid(u), 2, 2 + u.length);
  for (let i = 0; i < 5000; i++) record(1000 + i, `u${i}`);
  const g = r.guard(5000);
  const admit = (t: number, u: string) => g.admit(t, uuid(u), 2, 2 + u.length);
  expect(admit(5000, "u4000")).toBe(false);
  expect(admit(5999, "u4999")).toBe(false);
  // older than the guard's since: not in its set (the stream was not asked for it)
  expect(admit(3999, "u2999")).toBe(true);
  expect(admit(5500, "unseen")).toBe(true);
  expect(admit(6000, "u4999")).toBe(true); // newer than anything delivered when the stream started
  expect(r.guard(0).admit(1000, uuid("u0"), 2, 4)).toBe(false);

  // bounded: only the newest `capacity` uuids are kept
  const small = new RecentUuids(100);
  for (let i = 0; i < 5000; i++) small.recordUuid(i, `s${i}`);
  expect(small.size).toBe(100);
  const sg = small.guard(0);
  expect(sg.admit(4999, Buffer.from("s4999"), 0, 5)).toBe(false);
  expect(sg.admit(4900, Buffer.from("s4900"), 0, 5)).toBe(false);
  expect(sg.admit(4899, Buffer.from("s4899"), 0, 5)).toBe(true);
});

test("history pages come back in time order across page boundaries and retention applies by age and size", () => {
  const h = new FlowHistory(path.join(tmp, "h1"), { retentionMs: 60_000, maxBytes: 1 << 30 });
  const nowUs = Date.now() * 1000;
  const times: number[] = [];
  for (let i = 0; i < 5000; i++) times.push(nowUs - 30_000_000 + ((i * 7919) % 5000) * 1000);
  times.forEach((t, i) => h.append(t, `u${i}`, "n1", encodedFlow(t, `u${i}`)));
  expect(h.flush()).toBe(5000);
  const got = [...h.pages(nowUs - 31_000_000, nowUs, 333)].flat();
  expect(got).toHaveLength(5000);
  for (let i = 1; i < got.length; i++) expect(got[i].timeUs).toBeGreaterThanOrEqual(got[i - 1].timeUs);
  expect(decodeFlow(got[0].data)?.uuid).toBe(got[0].uuid);

  h.append(nowUs - 120_000_000, "old", "n1", encodedFlow(nowUs - 120_000_000, "old"));
  h.flush();
  expect(h.enforceRetention(Date.now()).byAge).toBe(1);
  h.close();

  const small = new FlowHistory(path.join(tmp, "h2"), { retentionMs: 3_600_000, maxBytes: 256 * 1024 });
  for (let i = 0; i < 20_000; i++) small.append(nowUs + i, `s${i}`, "n1", encodedFlow(nowUs + i, `s${i}`));
  small.flush();
  expect(small.usedBytes()).toBeGreaterThan(256 * 1024);
  const { bySize } = small.enforceRetention(Date.now());
  expect(bySize).toBeGreaterThan(0);
  expect(small.usedBytes()).toBeLessThanOrEqual(256 * 1024);
  expect(small.oldestUs()).toBeGreaterThan(nowUs);
  expect(small.newestUs()).toBe(nowUs + 19_999);
  small.close();
});

test("the peer set follows discovery: new peers are dialled, vanished ones closed", () => {
  const peers = new PeerSet({ credentials: grpc.credentials.createInsecure(), channelOptions: {}, tls: false, tlsFiles: {}, healthIntervalMs: 60_000 }, () => undefined);
  const added: string[] = [];
  const removed: string[] = [];
  peers.on("added", (p) => added.push(p.address));
  peers.on("removed", (p) => removed.push(p.address));
  peers.update([{ address: "127.0.0.1:1" }, { address: "127.0.0.1:2", name: "node-b" }]);
  peers.update([{ address: "127.0.0.1:2" }, { address: "127.0.0.1:3" }]);
  expect(added).toEqual(["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]);
  expect(removed).toEqual(["127.0.0.1:1"]);
  expect(peers.list().map((p) => p.name)).toEqual(["node-b", "127.0.0.1:3"]);
  peers.close();
});

test("DNS discovery turns every address of a name into a peer; Kubernetes discovery keeps Running, Ready pods", async () => {
  const found = await new Promise<string[]>((resolve) => {
    const d = new DnsDiscovery("localhost", 4244, 60_000, () => undefined);
    d.start((peers) => {
      d.stop();
      resolve(peers.map((p) => p.address));
    });
  });
  expect(found).toContain("127.0.0.1:4244");
  const ready = { type: "Ready", status: "True" };
  expect(
    readyAgents(
      {
        items: [
          { spec: { nodeName: "n1" }, status: { phase: "Running", podIP: "10.0.0.2", conditions: [ready] } },
          { spec: { nodeName: "n2" }, status: { phase: "Pending", podIP: "10.0.0.3", conditions: [ready] } },
          { spec: { nodeName: "n3" }, status: { phase: "Running", podIP: "10.0.0.4", conditions: [{ type: "Ready", status: "False" }] } },
          { spec: { nodeName: "n4" }, status: { phase: "Running", podIP: "fd00::5", conditions: [ready] } },
        ],
      },
      4244,
    ),
  ).toEqual([
    { address: "[fd00::5]:4244", name: "n4" },
    { address: "10.0.0.2:4244", name: "n1" },
  ]);
});
