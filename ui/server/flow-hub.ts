// Fans the relay's live flows out to every open page. The namespace
// allow-list is applied once, here, before anything is kept or forwarded; a
// short ring of recent flows lets a page that just opened start with a map.
import type { Flow } from "../../proto/types";
import type { NamespaceAccess } from "./namespace-access";
import type { RelayConnection, RelayStatus } from "./relay-client";

const RECENT_FLOWS = 5000;

export type FlowListener = (flow: Flow) => void;

export class FlowHub {
  private readonly recent: Flow[] = [];
  private recentStart = 0;
  private readonly listeners = new Set<FlowListener>();

  constructor(
    private readonly relay: RelayConnection,
    private readonly access: NamespaceAccess,
  ) {
    relay.on("flow", (flow: Flow) => this.publish(flow));
  }

  get status(): RelayStatus {
    return this.relay.status;
  }

  /** Calls `listener` with the recent flows, then with every new one, until the returned function is called. */
  subscribe(listener: FlowListener): () => void {
    for (let i = 0; i < this.recent.length; i++) listener(this.recent[(this.recentStart + i) % this.recent.length]);
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private publish(raw: Flow): void {
    const flow = this.access.visible(raw);
    if (!flow) return;
    if (this.recent.length < RECENT_FLOWS) this.recent.push(flow);
    else {
      this.recent[this.recentStart] = flow;
      this.recentStart = (this.recentStart + 1) % RECENT_FLOWS;
    }
    for (const l of this.listeners) l(flow);
  }
}
