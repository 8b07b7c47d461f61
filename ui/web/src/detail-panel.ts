// The side panel: every field of one flow, or the figures of one map element.
import type { Flow } from "../../../proto/types";
import { timestampToMillis } from "../../../proto/types";
import { podLabel, ports, protocolOf } from "../../shared/flow-view";
import type { MapSelection } from "./service-map-view";
import * as fmt from "./format";

export class DetailPanel {
  constructor(private readonly root: HTMLElement) {
    root.querySelector("#detail-close")!.addEventListener("click", () => this.hide());
  }

  hide(): void {
    this.root.hidden = true;
  }

  showFlow(f: Flow): void {
    const p = ports(f);
    const stats = f.flowlens ?? {};
    this.render("Flow", [
      ["Time", new Date(timestampToMillis(f.time)).toISOString()],
      ["Verdict", f.verdict ?? ""],
      ["Drop reason", [f.drop_reason_desc, stats.kernel_drop_reason].filter(Boolean).join(" / ")],
      ["Source", podLabel(f.source, f.IP?.source)],
      ["Source IP", `${f.IP?.source ?? ""}${p.source !== undefined ? `:${p.source}` : ""}`],
      ["Destination", podLabel(f.destination, f.IP?.destination)],
      ["Destination IP", `${f.IP?.destination ?? ""}${p.destination !== undefined ? `:${p.destination}` : ""}`],
      ["Protocol", protocolOf(f)],
      ["TCP flags", Object.entries(f.l4?.TCP?.flags ?? {}).filter(([, on]) => on).map(([k]) => k).join(" ")],
      ["Direction", f.traffic_direction ?? ""],
      ["Reply", f.is_reply ? String(f.is_reply.value) : ""],
      ["Node", f.node_name ?? ""],
      ["Event", stats.event ?? ""],
      ["Packets", stats.packets !== undefined ? String(stats.packets) : ""],
      ["Bytes", stats.bytes !== undefined ? fmt.bytes(stats.bytes) : ""],
      ["RTT", fmt.rttUs(stats.srtt_us)],
      ["Retransmits", stats.retransmits !== undefined ? String(stats.retransmits) : ""],
      ["Source labels", (f.source?.labels ?? []).join(", ")],
      ["Dest. labels", (f.destination?.labels ?? []).join(", ")],
      ["UUID", f.uuid ?? ""],
    ], f);
  }

  showSelection(sel: MapSelection): void {
    const d = sel.data;
    if (sel.kind === "node") {
      this.render(`Workload ${String(d.name)}`, [
        ["Namespace", String(d.namespace)],
        ["Kind", String(d.kind)],
        ["Drops", String(d.drops)],
      ], d);
    } else {
      this.render("Connection", [
        ["From", String(d.source)],
        ["To", String(d.target)],
        ["Flows/s", fmt.rate(d.flowsPerSec as number)],
        ["Bytes/s", fmt.bytes(d.bytesPerSec as number)],
        ["RTT", fmt.rttUs(d.rttUs as number | undefined) || "n/a"],
        ["Dropped", String(d.drops)],
        ["Ports", (d.ports as number[]).join(", ")],
      ], d);
    }
  }

  private render(title: string, fields: Array<[string, string]>, raw: unknown): void {
    this.root.querySelector("#detail-title")!.textContent = title;
    const dl = this.root.querySelector("#detail-fields")!;
    dl.textContent = "";
    for (const [k, v] of fields) {
      if (!v) continue;
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = v;
      dl.append(dt, dd);
    }
    this.root.querySelector("#detail-json")!.textContent = JSON.stringify(raw, null, 2);
    this.root.hidden = false;
  }
}
