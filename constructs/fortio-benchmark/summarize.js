#!/usr/bin/env node
// Reads the fortio JSON results of one benchmark run (<target>-<qps>qps.json files), prints one line per
// target and rate (p50/p90/p99 in ms, achieved rate, errors) plus the sidecar/eBPF latency ratios, and,
// inside a cluster, publishes the same as JSON in the ConfigMap named by FORTIO_RESULTS_CONFIGMAP.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const https = require("node:https");

const FILE = /^(.+)-(\d+)qps\.json$/;

function percentile(result, p) {
  const found = (result.DurationHistogram?.Percentiles ?? []).find((x) => x.Percentile === p);
  if (!found) throw new Error(`fortio result ${result.Labels ?? ""} has no p${p}; run fortio load with -p 50,90,99`);
  return found.Value * 1000;
}

function summarize(dir) {
  const rows = [];
  for (const name of fs.readdirSync(dir).sort()) {
    const m = FILE.exec(name);
    if (!m) continue;
    const result = JSON.parse(fs.readFileSync(path.join(dir, name), "utf8"));
    const codes = result.RetCodes ?? {};
    const total = Object.values(codes).reduce((a, b) => a + b, 0);
    const ok = codes["200"] ?? 0;
    rows.push({
      target: m[1],
      requestedQps: Number(m[2]),
      achievedQps: Number(result.ActualQPS.toFixed(2)),
      p50Ms: Number(percentile(result, 50).toFixed(3)),
      p90Ms: Number(percentile(result, 90).toFixed(3)),
      p99Ms: Number(percentile(result, 99).toFixed(3)),
      requests: total,
      errors: total - ok,
    });
  }
  if (rows.length === 0) throw new Error(`no <target>-<qps>qps.json fortio results in ${dir}; did the load containers run?`);
  const ratios = [];
  for (const s of rows.filter((r) => r.target === "sidecar")) {
    const e = rows.find((r) => r.target === "ebpf" && r.requestedQps === s.requestedQps);
    if (!e) continue;
    ratios.push({
      requestedQps: s.requestedQps,
      p50Ratio: Number((s.p50Ms / e.p50Ms).toFixed(3)),
      p90Ratio: Number((s.p90Ms / e.p90Ms).toFixed(3)),
      p99Ratio: Number((s.p99Ms / e.p99Ms).toFixed(3)),
    });
  }
  return { rows, ratios };
}

function format({ rows, ratios }) {
  const lines = rows.map(
    (r) =>
      `${r.target.padEnd(8)} ${String(r.requestedQps).padStart(5)} qps requested ${r.achievedQps.toFixed(2).padStart(8)} achieved ` +
      `p50 ${r.p50Ms.toFixed(3)} ms p90 ${r.p90Ms.toFixed(3)} ms p99 ${r.p99Ms.toFixed(3)} ms errors ${r.errors}/${r.requests}`,
  );
  for (const x of ratios) {
    lines.push(`sidecar/ebpf at ${x.requestedQps} qps: p50 x${x.p50Ratio} p90 x${x.p90Ratio} p99 x${x.p99Ratio}`);
  }
  return lines.join("\n");
}

function apiRequest(method, urlPath, body) {
  const token = fs.readFileSync("/var/run/secrets/kubernetes.io/serviceaccount/token", "utf8");
  const ca = fs.readFileSync("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt");
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: process.env.KUBERNETES_SERVICE_HOST,
        port: process.env.KUBERNETES_SERVICE_PORT,
        path: urlPath,
        method,
        ca,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        timeout: 15000,
      },
      (res) => {
        let text = "";
        res.on("data", (c) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode, text }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${urlPath} timed out`)));
    req.on("error", reject);
    if (data) req.write(data);
    req.end();
  });
}

async function publish(summary, namespace, name) {
  const body = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name, namespace, labels: { "app.kubernetes.io/part-of": "flowlens-benchmark" } },
    data: { "summary.json": JSON.stringify(summary, null, 2), "summary.txt": format(summary), finished: new Date().toISOString() },
  };
  const base = `/api/v1/namespaces/${namespace}/configmaps`;
  let res = await apiRequest("POST", base, body);
  if (res.status === 409) res = await apiRequest("PUT", `${base}/${name}`, body);
  if (res.status >= 300) throw new Error(`publishing ConfigMap ${namespace}/${name} failed: HTTP ${res.status} ${res.text}`);
}

async function main() {
  const dir = process.argv[2];
  if (!dir) throw new Error("usage: summarize.js <results-dir>");
  const summary = summarize(dir);
  process.stdout.write(format(summary) + "\n");
  const target = process.env.FORTIO_RESULTS_CONFIGMAP;
  if (target) {
    const [namespace, name] = target.split("/");
    await publish(summary, namespace, name);
    process.stdout.write(`published to ConfigMap ${namespace}/${name}\n`);
  }
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`benchmark summary failed: ${err.message}\n`);
    process.exit(1);
  });
}

module.exports = { summarize, format };
