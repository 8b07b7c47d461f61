// `flowlens <command>`: one entry point for every component. Each command
// lives in its own module and is loaded only when asked for, so `flowlens
// observe` does not pay for the agent's native addon or the UI bundle.

interface Command {
  summary: string;
  load: () => Promise<{ run(argv: string[]): Promise<number | void> }>;
}

const COMMANDS: Record<string, Command> = {
  agent: { summary: "run the node agent (eBPF flows, Observer gRPC :4244, metrics :9965)", load: () => import("../agent/main") },
  relay: { summary: "run the relay (merges agents, keeps history, gRPC :4245)", load: () => import("../relay/main") },
  ui: { summary: "serve the web UI backed by a relay", load: () => import("../ui/server/main") },
  observe: { summary: "print flows from a relay or agent", load: () => import("./commands/observe") },
  status: { summary: "print health, flow counts and node status", load: () => import("./commands/status") },
  certs: { summary: "create a CA and mTLS server/client certificates", load: () => import("./commands/certs") },
  env: { summary: "environment templates: `flowlens env new --team T --env E --mode M`", load: () => import("./commands/env") },
  lab: { summary: "the local lab: `flowlens lab up|down|status`", load: () => import("./commands/lab") },
  bench: { summary: "compare none / eBPF agent / sidecar on the lab replica", load: () => import("./commands/bench") },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: flowlens <command> [flags]\n\ncommands:\n${lines.join("\n")}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "-h" || name === "--help" || name === "help") {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`flowlens: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const mod = await command.load();
  const code = await mod.run(rest);
  return typeof code === "number" ? code : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`flowlens: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
