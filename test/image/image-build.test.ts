// agent/Dockerfile cannot be built here (no container engine), so its build stage is exercised piece by
// piece: the same scripts it RUNs, on this Debian bookworm host, and what they produce is loaded for real.
import { execFileSync } from "node:child_process";
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OPTIONAL_PROGRAMS } from "../../agent/kernel/capture";

const REPO = join(__dirname, "..", "..");
const DOCKERFILE = readFileSync(join(REPO, "agent", "Dockerfile"), "utf8");
const out = mkdtempSync(join(tmpdir(), "fl-image-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** Instructions with their continuation lines joined. */
const instructions = DOCKERFILE.replace(/\\\n/g, " ")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith("#"));

const packageList = (file: string): string[] =>
  readFileSync(join(REPO, "scripts", "image", file), "utf8")
    .split("\n")
    .map((l) => l.replace(/#.*/, "").trim())
    .filter(Boolean);

describe("the image build stage, run on this host", () => {
  test("every script the Dockerfile RUNs exists and is executable", () => {
    const scripts = instructions
      .filter((l) => l.startsWith("RUN "))
      .flatMap((l) => [...l.matchAll(/(?:^|\s)(?:\/tmp\/image\/|scripts\/image\/)([\w.-]+\.sh)/g)].map((m) => m[1]));
    expect(new Set(scripts)).toEqual(new Set(["install-packages.sh", "build-kernel-objects.sh", "build-native-addon.sh"]));
    for (const s of scripts) accessSync(join(REPO, "scripts", "image", s), constants.X_OK);
  });

  test("the build and runtime package lists name Debian bookworm packages (installed on this bookworm host)", () => {
    expect(readFileSync("/etc/debian_version", "utf8")).toMatch(/^12\./);
    const packages = [...packageList("build-packages.txt"), ...packageList("runtime-packages.txt")];
    expect(packages).toEqual(expect.arrayContaining(["clang", "libbpf-dev", "libbpf1", "libelf1"]));
    const status = execFileSync("dpkg-query", ["-W", "-f", "${Package} ${db:Status-Status}\n", ...packages], { encoding: "utf8" });
    expect(status.trim().split("\n").sort()).toEqual(packages.map((p) => `${p} installed`).sort());
  });

  test("the kernel objects and the addon the Dockerfile builds load into this kernel together", () => {
    const bpfOut = join(out, "bpf");
    const addonOut = join(out, "addon");
    execFileSync(join(REPO, "scripts/image/build-kernel-objects.sh"), [REPO, bpfOut], { stdio: "pipe" });
    execFileSync(join(REPO, "scripts/image/build-native-addon.sh"), [REPO, addonOut], { stdio: "pipe" });
    const dropReasons = JSON.parse(readFileSync(join(bpfOut, "skb_drop_reasons.json"), "utf8"));
    expect(dropReasons["2"]).toBe("NOT_SPECIFIED");
    // A child process: the loaded programs go away with it even if an assertion here fails.
    const loaded = execFileSync(
      "node",
      [
        "-e",
        `const a = require(process.argv[1]);
         const o = new a.BpfObject(process.argv[2], { optionalPrograms: JSON.parse(process.argv[3]) });
         try { console.log(JSON.stringify(o.programStats().map((p) => p.name).sort())); } finally { o.close(); }`,
        join(addonOut, "flowlens_bpf.node"),
        join(bpfOut, "flowlens.bpf.o"),
        JSON.stringify(OPTIONAL_PROGRAMS),
      ],
      { encoding: "utf8" },
    );
    const names: string[] = JSON.parse(loaded);
    expect(names.length).toBeGreaterThanOrEqual(3);
    const source = readFileSync(join(REPO, "bpf", "flowlens.bpf.c"), "utf8");
    for (const name of names) expect(source).toMatch(new RegExp(`\\b${name.slice(0, 15)}`));
  }, 300_000);

  test("every file the runtime stage copies is in the checkout or produced by a build-stage step", () => {
    const produced = [
      ...instructions
        .filter((l) => /^RUN scripts\/image\/build-[\w-]+\.sh /.test(l))
        .map((l) => l.split(/\s+/)[3]),
      "/src/node_modules",
      "/src/ui/dist",
      ...instructions.filter((l) => l.startsWith("RUN npx tsx scripts/build-dist.ts ")).map(() => "/src/dist"),
    ];
    expect(produced).toContain("/src/dist");
    expect(produced).toEqual(expect.arrayContaining(["/src/bpf/.output", "/src/agent/native/build/Release"]));
    const sources = instructions
      .filter((l) => l.startsWith("COPY --from=build "))
      .flatMap((l) => l.split(/\s+/).slice(2, -1));
    expect(sources.length).toBeGreaterThan(10);
    const missing = sources.filter(
      (s) => !produced.some((p) => s === p || s.startsWith(`${p}/`)) && !existsSync(join(REPO, s.replace(/^\/src\//, ""))),
    );
    expect(missing).toEqual([]);
  });

  test("the image entrypoint offers the agent, relay and ui commands the chart runs", () => {
    const entrypoint = instructions.find((l) => l.startsWith("ENTRYPOINT "))!;
    expect(entrypoint).toBe('ENTRYPOINT ["/opt/flowlens/bin/flowlens"]');
    const help = execFileSync(join(REPO, "bin", "flowlens"), ["--help"], { encoding: "utf8" });
    for (const command of ["agent", "relay", "ui"]) expect(help).toMatch(new RegExp(`^  ${command}\\s`, "m"));
  });

  test("the image's non-root user is the one the chart runs the relay and UI as", () => {
    const user = instructions.find((l) => l.startsWith("USER "))!;
    expect(user).toBe("USER 10001:10001");
    const helpers = readFileSync(join(REPO, "charts/flowlens/templates/_helpers.tpl"), "utf8");
    expect(helpers).toMatch(/runAsUser: 10001\nrunAsGroup: 10001\nfsGroup: 10001/);
  });

  test("install-packages.sh refuses a list without packages before touching apt", () => {
    const empty = join(out, "empty.txt");
    execFileSync("sh", ["-c", `printf '# nothing\\n\\n' > ${empty}`]);
    expect(() => execFileSync(join(REPO, "scripts/image/install-packages.sh"), [empty], { stdio: "pipe" })).toThrow(
      /lists no packages/,
    );
  });
});
