// `flowlens observe`: prints flows from a relay (or one agent), with the
// filter and time flags of `hubble observe` plus byte and RTT columns.
import * as grpc from "@grpc/grpc-js";
import type { GetFlowsRequest, GetFlowsResponse } from "../../proto/types";
import { timestampFromMillis } from "../../proto/types";
import { reportError, UsageError } from "../lib/errors";
import { boolFlag, parseFlags, stringFlag } from "../lib/flags";
import { buildFilters, FILTER_FLAGS } from "../lib/flow-filters";
import { FlowPrinter, OUTPUT_FORMATS, type OutputFormat } from "../lib/flow-format";
import { connectObserver, explainRpcError } from "../lib/observer-client";
import { SERVER_FLAGS, SERVER_FLAGS_HELP, serverAndTls } from "../lib/server-flags";
import { parseTimeFlag } from "../lib/time";

const FLAGS = {
  ...SERVER_FLAGS,
  ...FILTER_FLAGS,
  follow: { type: "boolean", short: "f" },
  last: { type: "string" },
  since: { type: "string" },
  until: { type: "string" },
  output: { type: "string", short: "o" },
} as const;

const HELP = `usage: flowlens observe [flags]

Prints flows, oldest first. Without -f, --last or --since it prints the last 20.

time:
  -f, --follow              keep printing new flows
  --last N                  the N most recent flows (with -f: then follow)
  --since T, --until T      a duration back from now (5m, 1h30m) or RFC 3339 time
filters (repeat a flag or give a comma list to OR values; different flags AND):
  --pod [NS/]NAME           either side is this pod (namespace "default" if omitted)
  -n, --namespace NS        either side is in this namespace
  --ip IP|CIDR, --label K=V, --port N         either side
  --from-pod, --to-pod, --from-ip, --to-ip, --from-label, --to-label,
  --from-namespace, --to-namespace, --from-port, --to-port    one side
  --verdict FORWARDED|DROPPED|...   --protocol tcp|udp|icmp|...
  --tcp-flags SYN,ACK       --traffic-direction ingress|egress   --node-name NAME
  --not                     negates the filter flag that follows it
output:
  -o, --output compact|json|table   (default compact; compact/table show bytes and RTT)
${SERVER_FLAGS_HELP}
`;

export async function run(argv: string[]): Promise<number> {
  try {
    return await observe(argv);
  } catch (err) {
    return reportError("observe", err);
  }
}

/** The request the flags describe, checked before anything is dialled. */
export function observeRequest(argv: string[], nowMs = Date.now()): { request: GetFlowsRequest; format: OutputFormat } {
  const flags = parseFlags("observe", argv, FLAGS);
  if (flags.positionals.length) throw new UsageError(`unexpected argument "${flags.positionals[0]}"; filters are flags, e.g. --pod ${flags.positionals[0]}`);
  const format = (stringFlag(flags, "output") ?? "compact") as OutputFormat;
  if (!OUTPUT_FORMATS.includes(format)) throw new UsageError(`-o "${format}" is not an output format; use ${OUTPUT_FORMATS.join(", ")}`);
  const request: GetFlowsRequest = { follow: boolFlag(flags, "follow"), ...buildFilters(flags) };
  const last = stringFlag(flags, "last");
  if (last !== undefined) {
    if (!/^\d+$/.test(last)) throw new UsageError(`--last "${last}" is not a count; give a whole number such as 100`);
    request.number = Number(last);
  }
  const since = stringFlag(flags, "since");
  const until = stringFlag(flags, "until");
  if (since !== undefined) request.since = timestampFromMillis(parseTimeFlag(since, "--since", nowMs));
  if (until !== undefined) {
    if (request.follow) throw new UsageError("--until and --follow contradict each other; drop one");
    request.until = timestampFromMillis(parseTimeFlag(until, "--until", nowMs));
  }
  if (request.since && request.until && request.until.seconds * 1e9 + request.until.nanos < request.since.seconds * 1e9 + request.since.nanos) {
    throw new UsageError(`--until (${until}) is before --since (${since}); swap them`);
  }
  if (last === undefined && !request.follow && !request.since && !request.until) request.number = 20;
  return { request, format };
}

async function observe(argv: string[]): Promise<number> {
  if (argv.includes("-h") || argv.includes("--help")) {
    process.stdout.write(HELP);
    return 0;
  }
  const { request, format } = observeRequest(argv);
  const { server, tls } = serverAndTls(parseFlags("observe", argv, FLAGS));
  const client = connectObserver(server, tls);
  const stream = client.getFlows(request);
  const printer = new FlowPrinter(format, (line) => {
    if (!process.stdout.write(line + "\n")) {
      stream.pause();
      process.stdout.once("drain", () => stream.resume());
    }
  });
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    stream.cancel();
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    await new Promise<void>((resolve, reject) => {
      stream.on("data", (res: GetFlowsResponse) => printer.print(res));
      stream.on("error", (err: grpc.ServiceError) => (interrupted && err.code === grpc.status.CANCELLED ? resolve() : void explainRpcError(err, server, tls).then(reject)));
      // grpc-js ends the stream on failures too: success is an OK status after the last message.
      let ended = false;
      let ok = false;
      stream.on("status", (st: grpc.StatusObject) => {
        ok = st.code === grpc.status.OK;
        if (ok && ended) resolve();
      });
      stream.on("end", () => {
        ended = true;
        if (ok) resolve();
      });
    });
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    client.close();
  }
  return 0;
}
