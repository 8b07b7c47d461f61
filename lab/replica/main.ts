// Entry point of every replica process: `main <role>` with its settings in the
// environment, as the lab sets them (PORT, *_ADDR, load options).
import { STARTERS } from "./backends";
import { startExternal } from "./external";
import { startFrontend } from "./frontend";
import { runLoad } from "./loadgen";

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
    const frontend = process.env.FRONTEND_ADDR;
    if (!frontend) throw new Error("replica: FRONTEND_ADDR is not set; the lab sets it to the frontend Service address");
    await runLoad({
      frontend,
      rate: numberEnv("LOAD_RATE", 5),
      duration: numberEnv("LOAD_DURATION", 0),
      warmup: numberEnv("LOAD_WARMUP", 0),
      out: process.env.LOAD_OUT || undefined,
      egressTargets: (process.env.EGRESS_TARGETS ?? "").split(",").filter(Boolean),
      hop: process.env.HOP_OUT
        ? {
            address: process.env.CURRENCY_SERVICE_ADDR ?? "",
            rate: numberEnv("HOP_RATE", 100),
            duration: numberEnv("HOP_DURATION", 5),
            warmup: numberEnv("HOP_WARMUP", 1),
            out: process.env.HOP_OUT,
          }
        : undefined,
    });
  } else if (role && STARTERS[role]) {
    await STARTERS[role](port);
  } else {
    throw new Error(`replica: unknown role "${role ?? ""}"; expected frontend, loadgenerator, external or one of ${Object.keys(STARTERS).join(", ")}`);
  }
}

main(process.argv[2]).catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
