// The --namespace-allow list, enforced on the server: a flow is visible when
// at least one side is in an allowed namespace, and the other side, if it is
// in a namespace outside the list, is reduced to a placeholder so pod names,
// labels and addresses of other teams never reach the page.
import type { Endpoint, Flow, FlowFilter } from "../../proto/types";
import { HIDDEN_NAMESPACE } from "../shared/flow-view";

export class NamespaceAccess {
  private readonly allowed: ReadonlySet<string> | undefined;

  /** `undefined` allows every namespace. */
  constructor(allowed: readonly string[] | undefined) {
    this.allowed = allowed && allowed.length > 0 ? new Set(allowed) : undefined;
  }

  get restricted(): boolean {
    return this.allowed !== undefined;
  }

  /** The flow as this user may see it, or undefined when it is not visible at all. */
  visible(flow: Flow): Flow | undefined {
    if (!this.allowed) return flow;
    const srcOk = this.endpointAllowed(flow.source);
    const dstOk = this.endpointAllowed(flow.destination);
    if (!srcOk && !dstOk) return undefined;
    if (srcOk && dstOk) return flow;
    const hiddenSide = srcOk ? "destination" : "source";
    const copy: Flow = { ...flow, IP: flow.IP ? { ...flow.IP } : undefined };
    copy[hiddenSide] = { namespace: HIDDEN_NAMESPACE, pod_name: "", labels: [], workloads: [{ name: "hidden", kind: "" }] };
    if (copy.IP) copy.IP[hiddenSide] = "";
    if (hiddenSide === "source") copy.source_service = undefined;
    else copy.destination_service = undefined;
    copy.source_names = undefined;
    copy.destination_names = undefined;
    return copy;
  }

  /**
   * Relay-side whitelist so the relay sends only flows touching allowed
   * namespaces (Hubble filters: OR across filters, AND within one).
   */
  relayWhitelist(base: FlowFilter = {}): FlowFilter[] {
    if (!this.allowed) return Object.keys(base).length ? [base] : [];
    const filters: FlowFilter[] = [];
    for (const ns of this.allowed) {
      filters.push({ ...base, source_pod: [`${ns}/`] }, { ...base, destination_pod: [`${ns}/`] });
    }
    return filters;
  }

  /** Namespaces the user may pick in the page's filter (undefined: any). */
  list(): string[] | undefined {
    return this.allowed ? [...this.allowed].sort() : undefined;
  }

  private endpointAllowed(ep: Endpoint | undefined): boolean {
    return !!ep?.namespace && this.allowed!.has(ep.namespace);
  }
}
