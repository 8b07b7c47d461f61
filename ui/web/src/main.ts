// The page: wires the live stream (or a past window) to the map, the table,
// the header and the filters.
import type { Flow } from "../../../proto/types";
import { matchesQuery, queryFromParams, queryToParams, type FlowQuery } from "../../shared/flow-view";
import type { HistoryAnswer, LiveBatch, ServiceMap } from "../../shared/wire";
import { DetailPanel } from "./detail-panel";
import { FlowTable } from "./flow-table";
import { Header } from "./header";
import { ServiceMapView } from "./service-map-view";

type TimeWindow = { kind: "live" } | { kind: "past"; sinceMs: number; untilMs: number };

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const header = new Header();
const detail = new DetailPanel(byId("detail"));
const mapView = new ServiceMapView(byId("map"), (sel) => (sel ? detail.showSelection(sel) : detail.hide()));
const table = new FlowTable(
  document.querySelector("#flow-table tbody") as HTMLTableSectionElement,
  byId("table-empty"),
  byId("flow-count"),
  (flow) => detail.showFlow(flow),
);
const filters = byId<HTMLFormElement>("filters");
const namespaceSelect = filters.elements.namedItem("namespace") as HTMLSelectElement;
const pauseButton = byId<HTMLButtonElement>("pause");
const mapCaption = byId("map-caption");

let query: FlowQuery = {};
let timeWindow: TimeWindow = { kind: "live" };
let paused = false;
let stream: EventSource | undefined;
let restrictedNamespaces = false;
const knownNamespaces = new Set<string>();

/** Timings read by the benchmark and the browser tests (performance.now() values). */
const diagnostics = { batches: 0, mapUpdates: 0, firstMapDataAt: undefined as number | undefined, mapView, table, query: () => query };
(window as unknown as { __flowlens: typeof diagnostics }).__flowlens = diagnostics;

function readQuery(): FlowQuery | string {
  const params = new URLSearchParams();
  for (const el of Array.from(filters.elements) as HTMLInputElement[]) if (el.name) params.set(el.name, el.value);
  return queryFromParams(params);
}

function showMap(map: ServiceMap, caption: string): void {
  if (diagnostics.firstMapDataAt === undefined && map.nodes.length > 0) diagnostics.firstMapDataAt = performance.now();
  diagnostics.mapUpdates++;
  mapView.update(map);
  for (const n of map.nodes) addNamespaceOption(n.namespace);
  // Counted from the map, not from what is drawn: new workloads are drawn after the next layout.
  const namespaces = new Set(map.nodes.map((n) => n.namespace)).size;
  mapCaption.textContent = map.nodes.length
    ? `${caption} · ${namespaces} namespace${namespaces === 1 ? "" : "s"} · ${map.nodes.length} workloads · ${map.edges.length} connections`
    : `${caption} · no flows match`;
}

function addNamespaceOption(ns: string): void {
  if (restrictedNamespaces || knownNamespaces.has(ns) || ns.startsWith("(")) return;
  knownNamespaces.add(ns);
  const options = Array.from(namespaceSelect.options).slice(1);
  const next = options.find((o) => o.value > ns);
  const option = new Option(ns, ns);
  namespaceSelect.insertBefore(option, next ?? null);
}

function openLive(): void {
  stream?.close();
  const es = new EventSource(`/api/stream?${queryToParams(query)}`);
  stream = es;
  es.addEventListener("batch", (ev) => {
    const batch = JSON.parse((ev as MessageEvent<string>).data) as LiveBatch;
    diagnostics.batches++;
    header.showLive(batch.status);
    if (paused) return;
    if (batch.map) showMap(batch.map, `Live, last ${batch.map.windowSeconds} s`);
    table.prepend(batch.flows.filter((f: Flow) => matchesQuery(f, query)));
  });
  es.addEventListener("error", () => {
    if (es.readyState === EventSource.CLOSED) {
      header.showBanner("The UI server closed the live stream (signed out, or the server stopped). Reload the page to reconnect.", "bad");
    } else {
      header.showBanner("Lost the connection to the UI server; reconnecting…", "warn");
    }
  });
  es.addEventListener("open", () => header.hideBanner());
}

async function loadPast(sinceMs: number, untilMs: number): Promise<void> {
  stream?.close();
  stream = undefined;
  const params = queryToParams(query);
  params.set("since", new Date(sinceMs).toISOString());
  params.set("until", new Date(untilMs).toISOString());
  mapCaption.textContent = "Loading history…";
  const res = await fetch(`/api/history?${params}`);
  const body = await res.json();
  if (!res.ok) {
    header.showBanner(`History query failed: ${body.error}`, "bad");
    return;
  }
  header.hideBanner();
  const answer = body as HistoryAnswer;
  mapView.clear();
  const label = `${new Date(answer.since).toLocaleString()} – ${new Date(answer.until).toLocaleTimeString()}`;
  showMap(answer.map, `History ${label}, ${answer.total} flows`);
  table.replace(answer.flows);
  header.showPast(answer.total / Math.max(1, (untilMs - sinceMs) / 1000), "history");
}

function apply(): void {
  const q = readQuery();
  if (typeof q === "string") {
    header.showBanner(`Filter: ${q}`, "warn");
    return;
  }
  query = q;
  mapView.clear();
  table.replace([]);
  if (timeWindow.kind === "live") openLive();
  else void loadPast(timeWindow.sinceMs, timeWindow.untilMs);
}

let debounce: number | undefined;
filters.addEventListener("input", () => {
  clearTimeout(debounce);
  debounce = window.setTimeout(apply, 300);
});
filters.addEventListener("submit", (e) => e.preventDefault());

pauseButton.addEventListener("click", () => {
  paused = !paused;
  if (paused) table.flush();
  pauseButton.textContent = paused ? "Resume" : "Pause";
  pauseButton.setAttribute("aria-pressed", String(paused));
});

const timeMode = byId<HTMLSelectElement>("time-mode");
const custom = byId("custom-window");
const toLocalInput = (ms: number) => new Date(ms - new Date().getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
timeMode.addEventListener("change", () => {
  const presets: Record<string, number> = { "15m": 15 * 60_000, "1h": 3600_000, "24h": 24 * 3600_000 };
  custom.hidden = timeMode.value !== "custom";
  pauseButton.disabled = timeMode.value !== "live";
  if (timeMode.value === "live") timeWindow = { kind: "live" };
  else if (timeMode.value === "custom") {
    const now = Date.now();
    byId<HTMLInputElement>("time-since").value ||= toLocalInput(now - 15 * 60_000);
    byId<HTMLInputElement>("time-until").value ||= toLocalInput(now);
    return;
  } else {
    const now = Date.now();
    timeWindow = { kind: "past", sinceMs: now - presets[timeMode.value], untilMs: now };
  }
  apply();
});
byId("time-apply").addEventListener("click", () => {
  const sinceMs = Date.parse(byId<HTMLInputElement>("time-since").value);
  const untilMs = Date.parse(byId<HTMLInputElement>("time-until").value);
  if (Number.isNaN(sinceMs) || Number.isNaN(untilMs) || untilMs <= sinceMs) {
    header.showBanner("Pick a start time before the end time.", "warn");
    return;
  }
  timeWindow = { kind: "past", sinceMs, untilMs };
  apply();
});

byId("fit").addEventListener("click", () => mapView.fit());

byId("export").addEventListener("click", () => {
  const doc = {
    exportedAt: new Date().toISOString(),
    window: timeWindow.kind === "live" ? "live" : { since: new Date(timeWindow.sinceMs).toISOString(), until: new Date(timeWindow.untilMs).toISOString() },
    filters: query,
    flows: table.shown,
  };
  const blob = new Blob([JSON.stringify(doc, null, 2)], { type: "application/json" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `flowlens-flows-${new Date().toISOString().replace(/[:.]/g, "-")}.json`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
});

async function start(): Promise<void> {
  // The stream opens at once; the allow-list only adds the namespace choices.
  apply();
  const res = await fetch("/api/config");
  if (res.ok) {
    const cfg = (await res.json()) as { namespaces?: string[] };
    if (cfg.namespaces) {
      restrictedNamespaces = true;
      // Replace choices the first map may have added: the allow-list is the full set.
      for (const o of Array.from(namespaceSelect.options).slice(1)) o.remove();
      for (const ns of cfg.namespaces) namespaceSelect.add(new Option(ns, ns));
    }
  }
}
void start();
