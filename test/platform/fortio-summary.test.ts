// The benchmark's summary step, run as the Job runs it (node summarize.js <dir>) on fortio-format results.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./_synth";

const SCRIPT = join(__dirname, "../../constructs/fortio-benchmark/summarize.js");

function fortioResult(qps: number, achieved: number, p50: number, p90: number, p99: number, errors: number) {
  return {
    Labels: `x ${qps}qps`,
    RequestedQPS: String(qps),
    ActualQPS: achieved,
    RetCodes: { "200": qps * 60 - errors, ...(errors ? { "503": errors } : {}) },
    DurationHistogram: {
      Count: qps * 60,
      Percentiles: [
        { Percentile: 50, Value: p50 },
        { Percentile: 90, Value: p90 },
        { Percentile: 99, Value: p99 },
      ],
    },
  };
}

const dir = tempDir("fortio");
afterAll(() => dir.remove());

test("the summary prints percentiles in ms, achieved rates, errors and sidecar/eBPF ratios per rate", () => {
  writeFileSync(join(dir.dir, "ebpf-200qps.json"), JSON.stringify(fortioResult(200, 199.5, 0.004, 0.008, 0.02, 0)));
  writeFileSync(join(dir.dir, "sidecar-200qps.json"), JSON.stringify(fortioResult(200, 198.25, 0.006, 0.012, 0.05, 3)));
  writeFileSync(join(dir.dir, "notes.txt"), "ignored");
  const out = execFileSync("node", [SCRIPT, dir.dir], { encoding: "utf8", env: { PATH: process.env.PATH } });
  expect(out).toContain("ebpf       200 qps requested   199.50 achieved p50 4.000 ms p90 8.000 ms p99 20.000 ms errors 0/12000");
  expect(out).toContain("sidecar    200 qps requested   198.25 achieved p50 6.000 ms p90 12.000 ms p99 50.000 ms errors 3/12000");
  expect(out).toContain("sidecar/ebpf at 200 qps: p50 x1.5 p90 x1.5 p99 x2.5");
});

test("a run without results fails with a message that says where it looked", () => {
  const empty = tempDir("fortio-empty");
  try {
    expect(() => execFileSync("node", [SCRIPT, empty.dir], { encoding: "utf8", stdio: "pipe" })).toThrow(
      new RegExp(`no <target>-<qps>qps\\.json fortio results in ${empty.dir}`),
    );
  } finally {
    empty.remove();
  }
});
