// The Autopilot workload policy, checked through app.synth() as `cdktf synth` runs it.
import { AnnotationMetadataEntryType, App, Testing } from "cdktf";
import { EnvironmentSchema, EnvironmentInput } from "../../environments/schema";
import { PlatformStack } from "../../stacks/platform-stack";
import { FlowlensRelease } from "../../constructs/flowlens-release";
import { manifest } from "../../constructs/kubernetes-manifest";
import { autopilotRejections, footprintOfWorkload } from "../../constructs/workload-footprint";
import { tempDir } from "./_synth";

const environment = (mode: "standard" | "autopilot") =>
  EnvironmentSchema.parse({
    team: "pol",
    env: mode === "standard" ? "std" : "auto",
    project: "pol-flowlens-test",
    region: "europe-west1",
    mode,
    platform: { microservicesDemo: { enabled: true }, sidecarMesh: { enabled: true } },
  } satisfies EnvironmentInput);

const cluster = { endpoint: "203.0.113.10", caCertificate: "Y2E=" };

const hostAgent = {
  apiVersion: "apps/v1",
  kind: "DaemonSet",
  metadata: { name: "host-agent", namespace: "kube-system" },
  spec: {
    selector: { matchLabels: { app: "host-agent" } },
    template: {
      metadata: { labels: { app: "host-agent" } },
      spec: {
        hostNetwork: true,
        containers: [
          {
            name: "agent",
            image: "example/agent:1",
            securityContext: { privileged: true },
            volumeMounts: [
              { name: "root", mountPath: "/host" },
              { name: "logs", mountPath: "/var/log", readOnly: true },
            ],
          },
        ],
        volumes: [
          { name: "root", hostPath: { path: "/" } },
          { name: "logs", hostPath: { path: "/var/log" } },
        ],
      },
    },
  },
};

const dirs: ReturnType<typeof tempDir>[] = [];
function appIn(): App {
  const d = tempDir("policy");
  dirs.push(d);
  return new App({ outdir: d.dir, stackTraces: false });
}
afterAll(() => dirs.forEach((d) => d.remove()));

describe("the Autopilot workload policy", () => {
  test("a privileged, host-networked pod with a writable hostPath fails synth on Autopilot, naming each reason", () => {
    const app = appIn();
    const stack = new PlatformStack(app, "pol-auto-platform", { environment: environment("autopilot"), cluster });
    manifest(stack, "host-agent", hostAgent);
    expect(() => app.synth()).toThrow(
      /DaemonSet\/kube-system\/host-agent runs a privileged container[\s\S]*uses the host network[\s\S]*mounts hostPath \/ writable/,
    );
  });

  test("the same pod passes on Standard, where the agent DaemonSet is expected", () => {
    const app = appIn();
    const stack = new PlatformStack(app, "pol-std-platform", { environment: environment("standard"), cluster });
    manifest(stack, "host-agent", hostAgent);
    expect(() => app.synth()).not.toThrow();
  });

  test("the Flowlens chart with the Standard profile is refused on Autopilot because of its host mounts", () => {
    const app = appIn();
    const stack = new PlatformStack(app, "pol-auto-platform", { environment: environment("autopilot"), cluster });
    new FlowlensRelease(stack, "wrong-profile", { mode: "standard", imageRepository: "example/flowlens", namespace: "other" });
    expect(() => app.synth()).toThrow(/DaemonSet\/other\/flowlens-agent mounts hostPath \/sys\/fs\/bpf, outside \/var\/log/);
  });

  test("the full Autopilot platform (Flowlens, demos, Istio, benchmark) synthesizes without a violation", () => {
    const app = appIn();
    new PlatformStack(app, "pol-auto-platform", { environment: environment("autopilot"), cluster });
    expect(() => app.synth()).not.toThrow();
  });

  test("Testing.synth keeps going past the violation, so the error annotation itself is asserted there", () => {
    const app = Testing.app();
    const stack = new PlatformStack(app, "pol-auto-platform", { environment: environment("autopilot"), cluster });
    const bad = manifest(stack, "host-agent", hostAgent);
    Testing.synth(stack, true);
    const errors = bad.node.metadata.filter((m) => m.type === AnnotationMetadataEntryType.ERROR).map((m) => String(m.data));
    expect(errors).toHaveLength(3);
    expect(errors.join("\n")).toMatch(/writable/);
  });

  test("read-only hostPath mounts under /var/log and plain pods are not rejections, read-only ones elsewhere are", () => {
    const readOnly = structuredClone(hostAgent);
    const pod = readOnly.spec.template.spec as Record<string, unknown>;
    pod.hostNetwork = false;
    (pod.containers as any)[0].securityContext = {};
    (pod.containers as any)[0].volumeMounts = [{ name: "logs", mountPath: "/var/log", readOnly: true }];
    expect(autopilotRejections(footprintOfWorkload(readOnly)!)).toEqual([]);
    (pod.containers as any)[0].volumeMounts = [{ name: "root", mountPath: "/host", readOnly: true }];
    expect(autopilotRejections(footprintOfWorkload(readOnly)!)).toEqual(["mounts hostPath /, outside /var/log"]);
    expect(footprintOfWorkload({ kind: "ConfigMap", metadata: { name: "x" } })).toBeUndefined();
  });
});
