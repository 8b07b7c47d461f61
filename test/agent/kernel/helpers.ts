/** Collecting records from a KernelCapture in tests, and reading the kernel's BPF objects with bpftool. */
import { execFileSync } from "node:child_process";
import type { KernelCapture } from "../../../agent/kernel/capture";
import type { KernelRecord } from "../../../agent/kernel/record";

export class RecordLog {
  readonly records: KernelRecord[] = [];
  constructor(private readonly capture: KernelCapture) {
    capture.onRecords((batch) => this.records.push(...batch));
  }

  /** Flushes until `pred` holds for some record (or times out), returning the matches. */
  async waitFor(what: string, pred: (r: KernelRecord) => boolean, timeoutMs = 5000): Promise<KernelRecord[]> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      this.capture.flush();
      const found = this.records.filter(pred);
      if (found.length > 0) return found;
      if (Date.now() > until) throw new Error(`no record for ${what} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The newest flush record of a flow: its counters cover the whole flow so far. */
  async lastFlush(what: string, pred: (r: KernelRecord) => boolean): Promise<KernelRecord> {
    const found = await this.waitFor(what, (r) => r.kind === "flush" && pred(r));
    return found[found.length - 1];
  }
}

/** bpftool's JSON output for `args` (after `-j`); undefined when it printed nothing. */
export function bpftoolJson<T = unknown>(args: string[]): T | undefined {
  const out = execFileSync("bpftool", ["-j", ...args], { encoding: "utf8", maxBuffer: 1 << 30 }).trim();
  return out ? (JSON.parse(out) as T) : undefined;
}
