// `flowlens status`: health, current/max flows, flow rate and node counts.
import type { GetNodesResponse, ServerStatusResponse } from "../../proto/types";
import { reportError, UsageError } from "../lib/errors";
import { parseFlags } from "../lib/flags";
import { connectObserver } from "../lib/observer-client";
import { SERVER_FLAGS, SERVER_FLAGS_HELP, serverAndTls } from "../lib/server-flags";

const HELP = `usage: flowlens status [flags]

Prints the server's health, current and maximum flows held, flows per second,
and connected / unavailable nodes (one line per node with --verbose).

  -v, --verbose             list every node with its state and address
${SERVER_FLAGS_HELP}
`;

const FLAGS = { ...SERVER_FLAGS, verbose: { type: "boolean", short: "v" } } as const;

export async function run(argv: string[]): Promise<number> {
  try {
    return await status(argv);
  } catch (err) {
    return reportError("status", err);
  }
}

export function formatStatus(server: string, s: ServerStatusResponse, nodes?: GetNodesResponse): string {
  const pct = s.max_flows ? ` (${((100 * (s.num_flows ?? 0)) / s.max_flows).toFixed(2)}%)` : "";
  const lines = [
    `Healthcheck (via ${server}): Ok`,
    `Current/Max Flows: ${(s.num_flows ?? 0).toLocaleString("en-US")}/${(s.max_flows ?? 0).toLocaleString("en-US")}${pct}`,
    `Flows/s: ${(s.flows_rate ?? 0).toFixed(2)}`,
  ];
  if (s.num_connected_nodes || s.num_unavailable_nodes) {
    lines.push(`Connected Nodes: ${s.num_connected_nodes?.value ?? 0}/${(s.num_connected_nodes?.value ?? 0) + (s.num_unavailable_nodes?.value ?? 0)}`);
    const down = s.unavailable_nodes ?? [];
    if (s.num_unavailable_nodes?.value) lines.push(`Unavailable Nodes: ${s.num_unavailable_nodes.value}${down.length ? ` (${down.join(", ")})` : ""}`);
  }
  for (const n of nodes?.nodes ?? []) {
    lines.push(`  ${n.name ?? "?"}  ${n.state ?? "UNKNOWN_NODE_STATE"}  ${n.address ?? ""}  flows ${(n.num_flows ?? 0).toLocaleString("en-US")}/${(n.max_flows ?? 0).toLocaleString("en-US")}`);
  }
  return lines.join("\n") + "\n";
}

async function status(argv: string[]): Promise<number> {
  if (argv.includes("-h") || argv.includes("--help")) {
    process.stdout.write(HELP);
    return 0;
  }
  const flags = parseFlags("status", argv, FLAGS);
  if (flags.positionals.length) throw new UsageError(`unexpected argument "${flags.positionals[0]}"`);
  const { server, tls } = serverAndTls(flags);
  const client = connectObserver(server, tls);
  try {
    const s = await client.serverStatus();
    const nodes = flags.values.verbose ? await client.getNodes() : undefined;
    process.stdout.write(formatStatus(server, s, nodes));
    return 0;
  } finally {
    client.close();
  }
}
