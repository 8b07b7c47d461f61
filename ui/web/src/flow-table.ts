// The flow table: newest first, at most MAX_ROWS rows. New flows are
// prepended and old rows trimmed, at most once per animation frame, so a
// batch costs its own size, not the table's. What the table holds is exactly
// what "Export JSON" writes.
import type { Flow } from "../../../proto/types";
import { timestampToMillis } from "../../../proto/types";
import { podLabel, ports, protocolOf } from "../../shared/flow-view";
import * as fmt from "./format";

const MAX_ROWS = 500;

export class FlowTable {
  private flows: Flow[] = [];
  private pending: Flow[] = [];
  private frameRequested = false;
  private selectedRow?: HTMLTableRowElement;

  constructor(
    private readonly body: HTMLTableSectionElement,
    private readonly empty: HTMLElement,
    private readonly count: HTMLElement,
    onSelect: (flow: Flow) => void,
  ) {
    body.addEventListener("click", (e) => {
      const row = (e.target as HTMLElement).closest("tr");
      if (!row) return;
      const index = Array.prototype.indexOf.call(body.rows, row);
      const flow = this.flows[index];
      if (!flow) return;
      this.selectedRow?.classList.remove("selected");
      row.classList.add("selected");
      this.selectedRow = row;
      onSelect(flow);
    });
  }

  /** Flows shown, newest first. */
  get shown(): readonly Flow[] {
    return this.flows;
  }

  replace(flows: Flow[]): void {
    this.flows = [];
    this.pending = [];
    this.body.textContent = "";
    this.render(flows);
  }

  /** Adds flows given oldest first, on the next animation frame. */
  prepend(flows: Flow[]): void {
    this.pending.push(...flows);
    if (this.pending.length > MAX_ROWS) this.pending.splice(0, this.pending.length - MAX_ROWS);
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => this.flush());
  }

  /** Renders flows waiting for the next frame now (e.g. when the view is paused). */
  flush(): void {
    this.frameRequested = false;
    const flows = this.pending;
    this.pending = [];
    this.render(flows);
  }

  private render(flows: Flow[]): void {
    if (flows.length > 0) {
      const fresh = flows.slice(-MAX_ROWS).reverse();
      const fragment = document.createDocumentFragment();
      for (const f of fresh) fragment.appendChild(row(f));
      this.body.insertBefore(fragment, this.body.firstChild);
      this.flows = fresh.concat(this.flows);
      while (this.flows.length > MAX_ROWS) {
        this.flows.pop();
        this.body.lastElementChild?.remove();
      }
    }
    this.empty.hidden = this.flows.length > 0;
    this.count.textContent = `${this.flows.length} flow${this.flows.length === 1 ? "" : "s"}`;
  }
}

function cell(text: string, className?: string): HTMLTableCellElement {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function row(f: Flow): HTMLTableRowElement {
  const tr = document.createElement("tr");
  if (f.uuid) tr.dataset.uuid = f.uuid;
  if (f.verdict === "DROPPED") tr.className = "row-dropped";
  const p = ports(f);
  const verdict = document.createElement("td");
  const badge = document.createElement("span");
  const v = f.verdict ?? "VERDICT_UNKNOWN";
  badge.className = `verdict ${["FORWARDED", "DROPPED", "ERROR"].includes(v) ? `v-${v}` : "v-other"}`;
  badge.textContent = v;
  verdict.appendChild(badge);
  const src = podLabel(f.source, f.IP?.source);
  const dst = podLabel(f.destination, f.IP?.destination);
  tr.append(
    cell(fmt.clock(timestampToMillis(f.time))),
    cell(p.source !== undefined ? `${src}:${p.source}` : src),
    cell(dst),
    cell(p.destination !== undefined ? String(p.destination) : ""),
    cell(protocolOf(f)),
    verdict,
    cell(f.flowlens?.bytes ? fmt.bytes(f.flowlens.bytes) : "", "num"),
    cell(fmt.rttUs(f.flowlens?.srtt_us), "num"),
    cell(f.node_name ?? ""),
  );
  tr.title = f.drop_reason_desc ? `dropped: ${f.drop_reason_desc}` : "";
  return tr;
}
