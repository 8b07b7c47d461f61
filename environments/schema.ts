// The one schema every `environments/<team>-<env>.yaml` template is validated against.
// Types are inferred from it: `EnvironmentInput` is what a template may contain, `Environment` is the
// validated result with every default filled in. Each optional field states its default in `.describe()`,
// which also becomes the description editors show from the emitted JSON Schema.
import { z } from "zod";
import { parseCidr, rangesOverlap } from "./cidr";

const NAME = /^[a-z][a-z0-9]{0,11}$/;
const PROJECT = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
const REGION = /^[a-z]+-[a-z]+[0-9]+$/;
const ZONE = /^[a-z]+-[a-z]+[0-9]+-[a-z]$/;
const LABEL_KEY = /^[a-z][a-z0-9_-]{0,62}$/;
const LABEL_VALUE = /^[a-z0-9_-]{0,63}$/;
const BUCKET = /^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/;
const ISTIO_VERSION = /^\d+\.\d+\.\d+$/;
const RESERVED_LABELS = [
  ["team", "the template's team field"],
  ["env", "the template's env field"],
  ["managed-by", "Flowlens itself"],
] as const;

const cidr = z.string().superRefine((value, ctx) => {
  const parsed = parseCidr(value);
  if (typeof parsed === "string") ctx.addIssue({ code: z.ZodIssueCode.custom, message: parsed });
});

export const ModeSchema = z.enum(["standard", "autopilot"]).describe(
  "standard: you manage a node pool and Flowlens runs its eBPF agent on every node. " +
    "autopilot: Google manages nodes; Flowlens reads flows from GKE's managed hubble-relay.",
);

export const ReleaseChannelSchema = z.enum(["RAPID", "REGULAR", "STABLE", "EXTENDED"]);

export const NetworkSchema = z
  .object({
    nodesCidr: cidr.default("10.10.0.0/20").describe("Primary range of the subnet, for node IPs. Default: 10.10.0.0/20."),
    podsCidr: cidr.default("10.20.0.0/14").describe("Secondary range for pod IPs. Default: 10.20.0.0/14."),
    servicesCidr: cidr.default("10.24.0.0/20").describe("Secondary range for Service cluster IPs. Default: 10.24.0.0/20."),
    controlPlaneCidr: cidr
      .default("172.16.0.0/28")
      .describe("The /28 the private control plane is peered into. Default: 172.16.0.0/28."),
  })
  .strict()
  .superRefine((net, ctx) => {
    const named = (["nodesCidr", "podsCidr", "servicesCidr", "controlPlaneCidr"] as const).flatMap((key) => {
      const r = parseCidr(net[key]);
      return typeof r === "string" ? [] : [{ key, r }];
    });
    for (let i = 0; i < named.length; i++) {
      for (let j = i + 1; j < named.length; j++) {
        if (rangesOverlap(named[i].r, named[j].r)) {
          ctx.addIssue({
            code: z.ZodIssueCode.custom,
            path: [named[j].key],
            message: `${net[named[j].key]} overlaps ${named[i].key} ${net[named[i].key]}; pick disjoint ranges`,
          });
        }
      }
    }
    const cp = parseCidr(net.controlPlaneCidr);
    if (typeof cp !== "string" && cp.prefix !== 28) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["controlPlaneCidr"],
        message: `GKE needs a /28 for the control plane, got /${cp.prefix}`,
      });
    }
  })
  .describe("Address ranges of the VPC subnet and the cluster. Default: all four defaults below.");

export const AuthorizedNetworkSchema = z
  .object({
    name: z.string().min(1).describe("Shown in the console next to the range."),
    cidr,
  })
  .strict();

export const ControlPlaneSchema = z
  .object({
    privateEndpoint: z
      .boolean()
      .default(false)
      .describe(
        "Serve the Kubernetes API only on the private control-plane address (reach it from inside the VPC). " +
          "Default: false (a public endpoint, limited to authorizedNetworks).",
      ),
    authorizedNetworks: z
      .array(AuthorizedNetworkSchema)
      .default([])
      .describe("Ranges allowed to reach the Kubernetes API. Default: [] (required for a public endpoint in prod)."),
  })
  .strict()
  .describe("How the Kubernetes API is reached. Default: public endpoint, no authorized networks.");

export const NodePoolSchema = z
  .object({
    machineType: z.string().min(1).default("e2-standard-4").describe("Default: e2-standard-4 (room for Istio sidecars)."),
    minNodes: z.number().int().min(0).default(1).describe("Autoscaling lower bound per zone. Default: 1."),
    maxNodes: z.number().int().min(1).default(3).describe("Autoscaling upper bound per zone. Default: 3."),
    diskSizeGb: z.number().int().min(20).default(100).describe("Boot disk size in GB. Default: 100."),
    spot: z.boolean().default(false).describe("Use Spot VMs. Default: false."),
  })
  .strict()
  .refine((p) => p.minNodes <= p.maxNodes, {
    message: "minNodes must not exceed maxNodes",
    path: ["minNodes"],
  })
  .describe("Standard only: the separately managed node pool. Default: the defaults below. Forbidden on Autopilot.");

export const BackendSchema = z
  .discriminatedUnion("type", [
    z
      .object({
        type: z.literal("local"),
        path: z
          .string()
          .min(1)
          .optional()
          .describe("Directory for the state files. Default: the working directory (terraform.<stack>.tfstate)."),
      })
      .strict(),
    z
      .object({
        type: z.literal("gcs"),
        bucket: z.string().regex(BUCKET, "must be a GCS bucket name (lowercase, 3-63 characters)"),
        prefix: z
          .string()
          .min(1)
          .optional()
          .describe("Object prefix; each stack appends /cluster or /platform. Default: <team>/<env>."),
      })
      .strict(),
  ])
  .describe("Where Terraform state lives. Default: { type: local }.");

export const UiAuthSchema = z
  .discriminatedUnion("mode", [
    z.object({ mode: z.literal("token") }).strict(),
    z
      .object({
        mode: z.literal("iap"),
        audience: z.string().min(1).describe("The IAP backend service audience the UI verifies JWTs against."),
      })
      .strict(),
  ])
  .describe("How the web UI authenticates users: a bearer token from a Secret, or Identity-Aware Proxy. Default: { mode: token }.");

export const FlowObservabilitySchema = z
  .object({
    enabled: z.boolean().default(true).describe("Deploy the Flowlens agent (Standard), relay and UI. Default: true."),
    ringCapacity: z
      .number()
      .int()
      .min(1024)
      .max(4_194_304)
      .default(65536)
      .describe("Recent flows each agent keeps in memory (agent --ring-capacity). Default: 65536."),
    uiAuth: UiAuthSchema.default({ mode: "token" }),
  })
  .strict()
  .describe("Flow observability stack. Default: enabled with the defaults below.");

export const EgressNatSchema = z
  .object({
    destinations: z
      .array(cidr)
      .default([])
      .describe(
        "Destinations pods reach without SNAT (EgressNATPolicy on Autopilot, ip-masq-agent on Standard). " +
          "Default: [] (GKE's own policy is left as it is).",
      ),
  })
  .strict()
  .describe("Egress NAT exceptions. Default: none.");

export const PolicyLoggingSchema = z
  .object({
    enabled: z.boolean().default(true).describe("Manage the cluster's NetworkLogging `default` object. Default: true."),
    allow: z.boolean().default(false).describe("Log allowed connections. Default: false."),
    deny: z.boolean().default(true).describe("Log denied connections. Default: true."),
    delegate: z
      .boolean()
      .default(false)
      .describe("Log only for annotated NetworkPolicies (allow) and Namespaces (deny). Default: false."),
  })
  .strict()
  .describe("Network policy logging. Default: denied connections logged cluster-wide.");

export const MicroservicesDemoSchema = z
  .object({
    enabled: z.boolean().default(false).describe("Deploy microservices-demo (Online Boutique). Default: false."),
  })
  .strict()
  .describe("The demo app. Default: not deployed.");

export const SidecarMeshSchema = z
  .object({
    enabled: z.boolean().default(false).describe("Deploy the Istio sidecar-mesh baseline. Default: false."),
    istioVersion: z
      .string()
      .regex(ISTIO_VERSION, "must be a version like 1.27.1")
      .default("1.27.1")
      .describe("Istio release the baseline installs. Default: 1.27.1."),
  })
  .strict()
  .describe("Istio sidecar baseline, to compare against sidecar-free observability. Default: not deployed.");

export const PlatformSchema = z
  .object({
    flowObservability: FlowObservabilitySchema.default({}),
    egressNat: EgressNatSchema.default({}),
    policyLogging: PolicyLoggingSchema.default({}),
    microservicesDemo: MicroservicesDemoSchema.default({}),
    sidecarMesh: SidecarMeshSchema.default({}),
  })
  .strict()
  .describe("What the platform stack deploys in the cluster. Default: every part at its default.");

export const EnvironmentSchema = z
  .object({
    team: z
      .string()
      .regex(NAME, "must be 1-12 lowercase letters or digits, starting with a letter")
      .describe("Owning team; first part of the file name and of stack ids (<team>-<env>-cluster)."),
    env: z
      .string()
      .regex(NAME, "must be 1-12 lowercase letters or digits, starting with a letter")
      .describe("Environment name; names starting with prod get the production policy checks."),
    project: z
      .string()
      .regex(PROJECT, "must be a GCP project id (6-30 lowercase letters, digits, hyphens)")
      .describe("GCP project the cluster and its network live in."),
    region: z.string().regex(REGION, "must be a GCP region like europe-west1").describe("GCP region of the regional cluster."),
    zones: z
      .array(z.string().regex(ZONE, "must be a GCP zone like europe-west1-b"))
      .optional()
      .describe("Standard only: zones for the nodes, all in `region`. Default: GKE's choice of zones in the region."),
    mode: ModeSchema,
    network: NetworkSchema.default({}),
    controlPlane: ControlPlaneSchema.default({}),
    releaseChannel: ReleaseChannelSchema.default("REGULAR").describe("GKE release channel. Default: REGULAR."),
    nodePool: NodePoolSchema.optional(),
    labels: z
      .record(
        z.string().regex(LABEL_KEY, "label keys are lowercase letters, digits, _ or -, starting with a letter"),
        z.string().regex(LABEL_VALUE, "label values are up to 63 lowercase letters, digits, _ or -"),
      )
      .default({})
      .describe("Extra labels for every resource that takes labels; team, env and managed-by are always added. Default: {}."),
    deletionProtection: z
      .boolean()
      .default(true)
      .describe("Refuse to destroy the cluster until this is turned off. Default: true (required in prod)."),
    backend: BackendSchema.default({ type: "local" }),
    platform: PlatformSchema.default({}),
  })
  .strict()
  .superRefine((e, ctx) => {
    if (e.mode === "autopilot" && e.nodePool !== undefined) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["nodePool"],
        message: "Autopilot manages nodes itself; remove nodePool or use mode: standard",
      });
    }
    if (e.mode === "autopilot" && e.zones !== undefined) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["zones"],
        message: "Autopilot places nodes in every zone of the region; remove zones or use mode: standard",
      });
    }
    e.zones?.forEach((zone, i) => {
      if (!zone.startsWith(`${e.region}-`)) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ["zones", i],
          message: `zone ${zone} is not in region ${e.region}`,
        });
      }
    });
    for (const [reserved, source] of RESERVED_LABELS) {
      if (reserved in e.labels) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ["labels", reserved],
          message: `the "${reserved}" label is set from ${source}; remove it here`,
        });
      }
    }
  });

/** What a template file may contain (optional fields may be left out). */
export type EnvironmentInput = z.input<typeof EnvironmentSchema>;
/** A validated environment with every default filled in. */
export type Environment = z.output<typeof EnvironmentSchema>;
export type Mode = z.output<typeof ModeSchema>;
export type NetworkConfig = z.output<typeof NetworkSchema>;
export type ControlPlaneConfig = z.output<typeof ControlPlaneSchema>;
export type NodePoolConfig = z.output<typeof NodePoolSchema>;
export type BackendConfig = z.output<typeof BackendSchema>;
export type PlatformConfig = z.output<typeof PlatformSchema>;
export type FlowObservabilityConfig = z.output<typeof FlowObservabilitySchema>;
export type UiAuthConfig = z.output<typeof UiAuthSchema>;
export type EgressNatConfig = z.output<typeof EgressNatSchema>;
export type PolicyLoggingConfig = z.output<typeof PolicyLoggingSchema>;
export type MicroservicesDemoConfig = z.output<typeof MicroservicesDemoSchema>;
export type SidecarMeshConfig = z.output<typeof SidecarMeshSchema>;

/** Node pool settings a Standard environment uses when its template leaves `nodePool` out. */
export const DEFAULT_NODE_POOL: NodePoolConfig = NodePoolSchema.parse({});

/** `<team>-<env>`: the template's file name and the prefix of its stack ids. */
export function environmentName(e: Pick<Environment, "team" | "env">): string {
  return `${e.team}-${e.env}`;
}

/** Environments whose name starts with "prod" are production: stricter policy checks apply. */
export function isProduction(e: Pick<Environment, "env">): boolean {
  return e.env.startsWith("prod");
}
