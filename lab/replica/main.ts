// Entry point of every replica process: `main <role>` with its settings in the
// environment, as the lab sets them (PORT, *_ADDR, LOAD_RATE or LOAD_CONTROL).
import { STARTERS } from "./backends";
import { startExternal } from "./external";
import { startFrontend } from "./frontend";
import { resetConnections } from "./connections";
import { runLoad, serveBlocks } from "./loadgen";

function numberEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`replica: ${name}="${raw}" is not a non-negative number`);
  return value;
}

async function main(role: string | undefined): Promise<void> {
  const port = numberEnv("PORT", 8080);
  if (role === "frontend") {
    await startFrontend(port);
  } else if (role === "external") {
    await startExternal(port);
  } else if (role === "loadgenerator") {
    // The benchmark names each block's targets itself; steady load drives the frontend Service.
    const control = process.env.LOAD_CONTROL;
    if (control) {
      await serveBlocks(control);
      return;
    }
    const frontend = process.env.FRONTEND_ADDR;
    if (!frontend) throw new Error("replica: FRONTEND_ADDR is not set; the lab sets it to the frontend Service address");
    await runLoad({ frontend, rate: numberEnv("LOAD_RATE", 5), egressTargets: (process.env.EGRESS_TARGETS ?? "").split(",").filter(Boolean) });
  } else if (role && STARTERS[role]) {
    await STARTERS[role](port);
  } else {
    throw new Error(`replica: unknown role "${role ?? ""}"; expected frontend, loadgenerator, external or one of ${Object.keys(STARTERS).join(", ")}`);
  }
}

// The benchmark sends SIGHUP when it switches configurations under the running replica.
process.on("SIGHUP", resetConnections);

main(process.argv[2]).catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
