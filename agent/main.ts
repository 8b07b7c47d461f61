// `flowlens agent`: the node daemon. Runs until SIGTERM or SIGINT, then
// detaches its kernel programs and closes its servers before returning.
import { AgentDaemon } from "./daemon/agent-daemon";
import { ConfigError, parseAgentConfig, USAGE } from "./daemon/config";

export async function run(argv: string[]): Promise<number> {
  let config;
  try {
    config = parseAgentConfig(argv);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`flowlens agent: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (!config) {
    process.stdout.write(USAGE);
    return 0;
  }

  const daemon = new AgentDaemon(config);
  let signalled: (signal: NodeJS.Signals) => void = () => undefined;
  const stopped = new Promise<NodeJS.Signals>((resolve) => (signalled = resolve));
  process.once("SIGTERM", signalled);
  process.once("SIGINT", signalled);
  try {
    await daemon.start();
    const signal = await stopped;
    process.stderr.write(`flowlens agent: ${signal} received, shutting down\n`);
    return 0;
  } finally {
    process.removeListener("SIGTERM", signalled);
    process.removeListener("SIGINT", signalled);
    await daemon.stop();
  }
}
