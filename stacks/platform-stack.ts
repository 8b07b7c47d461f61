// Everything `cdktf deploy` puts inside one environment's cluster: the Flowlens release, egress NAT,
// policy logging, the demo app twice (sidecar-free and Istio-injected), the Istio baseline and the
// benchmark that compares them. Its own stack: kubernetes_manifest needs a reachable API server at plan.
import { Construct } from "constructs";
import { Aspects, ITerraformDependable, TerraformStack } from "cdktf";
import { Environment, environmentName } from "../environments/schema";
import { GoogleProvider } from "@cdktf/provider-google/lib/provider";
import { configureBackend } from "./backend";
import { ClusterConnection } from "../constructs/cluster-connection";
import { namespace } from "../constructs/kubernetes-manifest";
import { FlowlensRelease } from "../constructs/flowlens-release";
import { EgressNat } from "../constructs/egress-nat";
import { ALLOW_LOGGING_ANNOTATION, DENY_LOGGING_ANNOTATION, PolicyLogging } from "../constructs/policy-logging";
import { MicroservicesDemo } from "../constructs/microservices-demo";
import { SidecarMesh } from "../constructs/sidecar-mesh";
import { FortioBenchmark } from "../constructs/fortio-benchmark/fortio-benchmark";
import { AutopilotWorkloads } from "../constructs/policy/autopilot-workloads";

/** What the platform stack needs from the cluster stack (its resource attributes become remote state). */
export interface ClusterOutputs {
  /** Control-plane address without scheme. */
  readonly endpoint: string;
  /** Base64 PEM of the cluster CA. */
  readonly caCertificate: string;
}

export interface PlatformStackProps {
  readonly environment: Environment;
  readonly cluster: ClusterOutputs;
  /**
   * Image with the agent, relay and UI entrypoints.
   * @default "<region>-docker.pkg.dev/<project>/flowlens/flowlens" (Artifact Registry of the environment's project)
   */
  readonly imageRepository?: string;
}

export const FLOWLENS_NAMESPACE = "flowlens";
export const DEMO_EBPF_NAMESPACE = "demo-ebpf";
export const DEMO_SIDECAR_NAMESPACE = "demo-sidecar";
export const BENCHMARK_NAMESPACE = "flowlens-bench";

export class PlatformStack extends TerraformStack {
  readonly connection: ClusterConnection;
  readonly flowlens?: FlowlensRelease;
  readonly egressNat?: EgressNat;
  readonly policyLogging?: PolicyLogging;
  readonly sidecarMesh?: SidecarMesh;
  readonly demos: MicroservicesDemo[] = [];
  readonly benchmark?: FortioBenchmark;

  constructor(scope: Construct, id: string, props: PlatformStackProps) {
    super(scope, id);
    const e = props.environment;
    const p = e.platform;
    configureBackend(this, e, "platform");
    // Only for the deploying identity's access token (google_client_config).
    new GoogleProvider(this, "google", { project: e.project, region: e.region });
    this.connection = new ClusterConnection(this, "cluster", props.cluster);

    // With delegated logging only annotated policies (allow) and namespaces (deny) are logged.
    const delegated = p.policyLogging.enabled && p.policyLogging.delegate;
    const policyAnnotations = delegated && p.policyLogging.allow ? ALLOW_LOGGING_ANNOTATION : undefined;
    const namespaceAnnotations = delegated && p.policyLogging.deny ? DENY_LOGGING_ANNOTATION : undefined;

    if (p.policyLogging.enabled) {
      this.policyLogging = new PolicyLogging(this, "policy-logging", p.policyLogging);
    }
    if (p.egressNat.destinations.length > 0) {
      this.egressNat = new EgressNat(this, "egress-nat", {
        mode: e.mode,
        destinations: p.egressNat.destinations,
        podsCidr: e.network.podsCidr,
      });
    }
    if (p.flowObservability.enabled) {
      const ns = namespace(this, "flowlens-namespace", FLOWLENS_NAMESPACE, { annotations: namespaceAnnotations });
      this.flowlens = new FlowlensRelease(this, "flowlens", {
        mode: e.mode,
        namespace: FLOWLENS_NAMESPACE,
        imageRepository: props.imageRepository ?? `${e.region}-docker.pkg.dev/${e.project}/flowlens/flowlens`,
        ringCapacity: p.flowObservability.ringCapacity,
        uiAuth: p.flowObservability.uiAuth,
        networkPolicyAnnotations: policyAnnotations,
        dependsOn: [ns],
      });
    }
    if (p.sidecarMesh.enabled) {
      this.sidecarMesh = new SidecarMesh(this, "sidecar-mesh", {
        istioVersion: p.sidecarMesh.istioVersion,
        namespaceAnnotations,
      });
    }
    if (p.microservicesDemo.enabled) {
      const common = {
        clientNamespace: BENCHMARK_NAMESPACE,
        networkPolicyAnnotations: policyAnnotations,
        namespaceAnnotations,
      };
      this.demos.push(new MicroservicesDemo(this, "demo-ebpf", { ...common, namespace: DEMO_EBPF_NAMESPACE }));
      if (this.sidecarMesh) {
        const injectionReady: ITerraformDependable[] = [this.sidecarMesh.istiod];
        this.demos.push(
          new MicroservicesDemo(this, "demo-sidecar", {
            ...common,
            namespace: DEMO_SIDECAR_NAMESPACE,
            istioInjection: true,
            dependsOn: injectionReady,
          }),
        );
      }
      this.benchmark = new FortioBenchmark(this, "benchmark", {
        namespace: BENCHMARK_NAMESPACE,
        targets: this.demos.map((d) => ({
          name: d.namespaceName === DEMO_EBPF_NAMESPACE ? "ebpf" : "sidecar",
          url: d.frontendUrl,
          namespace: d.namespaceName,
        })),
        namespaceAnnotations,
        networkPolicyAnnotations: policyAnnotations,
        dependsOn: this.demos.map((d) => d.release),
      });
    }

    Aspects.of(this).add(new AutopilotWorkloads({ autopilot: e.mode === "autopilot" }));
  }
}

/** `<team>-<env>-platform` */
export function platformStackId(e: Pick<Environment, "team" | "env">): string {
  return `${environmentName(e)}-platform`;
}
