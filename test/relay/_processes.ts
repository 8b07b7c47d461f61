// Real `flowlens agent` and `flowlens relay` processes for relay tests, and a
// gRPC client that collects what the relay streams.
import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { observerClientConstructor } from "../../proto/load";
import type { GetFlowsRequest, GetFlowsResponse } from "../../proto/types";

export const REPO = path.resolve(__dirname, "../..");

export interface Proc {
  child: ChildProcess;
  port: number;
  output: () => string;
}

function startFlowlens(args: string[], ready: RegExp, what: string): Promise<Proc> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(REPO, "cli/flowlens.ts"), ...args], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${what} did not start within 30 s: ${out}`));
    }, 30_000);
    child.stderr!.on("data", (d) => {
      out += d;
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), output: () => out });
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited ${code} before starting: ${out}`));
    });
  });
}

export interface AgentSpec {
  nodeName: string;
  cgroupRoot: string;
  port?: number;
  ringCapacity?: number;
  tls?: { cert: string; key: string; clientCa: string };
}

export function startAgent(spec: AgentSpec): Promise<Proc> {
  const args = ["agent", "--node-name", spec.nodeName, "--cgroup-root", spec.cgroupRoot, "--listen-address", `127.0.0.1:${spec.port ?? 0}`, "--metrics-address", "127.0.0.1:0", "--flush-interval", "1s"];
  if (spec.ringCapacity) args.push("--ring-capacity", String(spec.ringCapacity));
  if (spec.tls) args.push("--tls-cert", spec.tls.cert, "--tls-key", spec.tls.key, "--tls-client-ca", spec.tls.clientCa);
  return startFlowlens(args, /gRPC on port (\d+)/, `agent ${spec.nodeName}`);
}

export function startRelay(args: string[]): Promise<Proc> {
  return startFlowlens(["relay", "--listen-address", "127.0.0.1:0", ...args], /listening on 127\.0\.0\.1:(\d+)/, "relay");
}

export function stop(proc: Proc | undefined, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (!proc || proc.child.exitCode !== null || proc.child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => proc.child.kill("SIGKILL"), 10_000);
    proc.child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    proc.child.kill(signal);
  });
}

/** Runs `flowlens <args>` to completion. */
export function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(REPO, "cli/flowlens.ts"), ...args], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code: code ?? -1, stdout, stderr })));
}

export type Client = grpc.Client & Record<string, any>;

export function relayClient(port: number, credentials = grpc.credentials.createInsecure(), options: grpc.ChannelOptions = {}): Client {
  const Ctor = observerClientConstructor();
  return new Ctor(`127.0.0.1:${port}`, credentials, options) as Client;
}

export function collect(client: Client, req: GetFlowsRequest): Promise<GetFlowsResponse[]> {
  return new Promise((resolve, reject) => {
    const out: GetFlowsResponse[] = [];
    const call = client.GetFlows(req);
    let ended = false;
    let ok = false;
    call.on("data", (r: GetFlowsResponse) => out.push(r));
    call.on("error", reject);
    // Failures end the stream too: success is an OK status plus the end of the data.
    call.on("status", (st: grpc.StatusObject) => {
      ok = st.code === grpc.status.OK;
      if (ok && ended) resolve(out);
    });
    call.on("end", () => {
      ended = true;
      if (ok) resolve(out);
    });
  });
}

export function unary<T>(client: Client, method: string): Promise<T> {
  return new Promise((resolve, reject) => client[method]({}, { deadline: Date.now() + 5000 }, (err: Error | null, res: T) => (err ? reject(err) : resolve(res))));
}

/** A followed stream whose responses accumulate in `responses`. */
export function follow(client: Client, req: GetFlowsRequest): { responses: GetFlowsResponse[]; cancel: () => void; errors: Error[] } {
  const responses: GetFlowsResponse[] = [];
  const errors: Error[] = [];
  const call = client.GetFlows({ ...req, follow: true });
  call.on("data", (r: GetFlowsResponse) => responses.push(r));
  call.on("error", (e: grpc.ServiceError) => {
    if (e.code !== grpc.status.CANCELLED) errors.push(e);
  });
  return { responses, errors, cancel: () => call.cancel() };
}

export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export const timeUs = (r: GetFlowsResponse) => (r.flow?.time ? r.flow.time.seconds * 1e6 + Math.floor(r.flow.time.nanos / 1000) : 0);
