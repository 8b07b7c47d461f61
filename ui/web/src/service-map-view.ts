// The service map: cytoscape draws it, ELK places it. Each namespace is a
// compound node laid out on its own (layered, left to right, by the traffic
// inside it) and the namespaces are packed into the viewport's shape; edges
// between namespaces do not move nodes, which keeps the layout fast and
// stable at hundreds of workloads and thousands of edges.
import cytoscape, { type Core, type ElementDefinition } from "cytoscape";
import ELK from "elkjs/lib/elk.bundled.js";
import type { ElkExtendedEdge, ElkNode } from "elkjs/lib/elk-api";
import type { MapEdge, ServiceMap } from "../../shared/wire";
import { EXTERNAL_NAMESPACE, HIDDEN_NAMESPACE } from "../../shared/flow-view";
import * as fmt from "./format";

const NODE_HEIGHT = 30;
const NS_LABEL_ROOM = 22;
const NS_PADDING = 14;
const MIN_RELAYOUT_INTERVAL_MS = 2000;
const MAX_FIT_ZOOM = 1.3;

export interface MapSelection {
  kind: "node" | "edge";
  data: Record<string, unknown>;
}

export class ServiceMapView {
  readonly cy: Core;
  private readonly elk = new ELK();
  private layoutRunning = false;
  private layoutWanted = false;
  private lastLayoutAt = 0;
  private layoutTimer?: number;
  /** Set once the first map with nodes has been laid out and painted (performance.now()). */
  firstDrawnAt?: number;
  lastLayoutMs?: number;

  constructor(container: HTMLElement, onSelect: (sel: MapSelection | undefined) => void) {
    this.cy = cytoscape({
      container,
      style: STYLE,
      minZoom: 0.05,
      maxZoom: 3,
      textureOnViewport: true,
      boxSelectionEnabled: false,
    });
    this.cy.on("tap", "node.workload", (e) => onSelect({ kind: "node", data: e.target.data() }));
    this.cy.on("tap", "edge", (e) => onSelect({ kind: "edge", data: e.target.data() }));
    this.cy.on("tap", (e) => {
      if (e.target === this.cy) onSelect(undefined);
    });
  }

  get counts(): { nodes: number; edges: number; namespaces: number } {
    return { nodes: this.cy.nodes(".workload").length, edges: this.cy.edges().length, namespaces: this.cy.nodes(".namespace").length };
  }

  /** Fits the map to the pane, without blowing a small map up past readable size. */
  fit(): void {
    this.cy.fit(undefined, 40);
    if (this.cy.zoom() > MAX_FIT_ZOOM) {
      this.cy.zoom(MAX_FIT_ZOOM);
      this.cy.center();
    }
  }

  clear(): void {
    this.cy.elements().remove();
  }

  update(map: ServiceMap): void {
    const cy = this.cy;
    let topologyChanged = false;
    cy.batch(() => {
      const wantedNodes = new Set<string>();
      const added: ElementDefinition[] = [];
      for (const n of map.nodes) {
        const nsId = `ns:${n.namespace}`;
        wantedNodes.add(nsId);
        wantedNodes.add(n.id);
        if (cy.getElementById(nsId).empty()) {
          const special = n.namespace === EXTERNAL_NAMESPACE || n.namespace === HIDDEN_NAMESPACE;
          cy.add({ group: "nodes", data: { id: nsId, label: n.namespace }, classes: special ? "namespace special" : "namespace" });
          topologyChanged = true;
        }
        const existing = cy.getElementById(n.id);
        const data = { id: n.id, parent: nsId, label: n.name, namespace: n.namespace, name: n.name, kind: n.kind, drops: n.drops, width: nodeWidth(n.name) };
        if (existing.empty()) {
          added.push({ group: "nodes", data, classes: n.kind === "External" ? "workload external" : "workload" });
          topologyChanged = true;
        } else {
          existing.data("drops", n.drops);
        }
      }
      if (added.length) cy.add(added);
      cy.nodes().forEach((node) => {
        if (!wantedNodes.has(node.id())) {
          node.remove();
          topologyChanged = true;
        }
      });
      cy.nodes(".workload").forEach((node) => {
        node.toggleClass("dropping", (node.data("drops") as number) > 0);
      });

      const wantedEdges = new Set<string>();
      const newEdges: ElementDefinition[] = [];
      for (const e of map.edges) {
        wantedEdges.add(e.id);
        const data = edgeData(e);
        const existing = cy.getElementById(e.id);
        if (existing.empty()) newEdges.push({ group: "edges", data, classes: e.drops > 0 ? "dropping" : "" });
        else {
          existing.data(data);
          existing.toggleClass("dropping", e.drops > 0);
        }
      }
      if (newEdges.length) cy.add(newEdges);
      cy.edges().forEach((edge) => {
        if (!wantedEdges.has(edge.id())) edge.remove();
      });
    });
    if (topologyChanged) this.requestLayout();
  }

  private requestLayout(): void {
    this.layoutWanted = true;
    if (this.layoutRunning || this.layoutTimer !== undefined) return;
    const wait = Math.max(0, this.lastLayoutAt + MIN_RELAYOUT_INTERVAL_MS - performance.now());
    if (this.firstDrawnAt === undefined) void this.runLayout();
    else this.layoutTimer = window.setTimeout(() => {
      this.layoutTimer = undefined;
      void this.runLayout();
    }, wait);
  }

  private async runLayout(): Promise<void> {
    if (!this.layoutWanted) return;
    this.layoutWanted = false;
    this.layoutRunning = true;
    const started = performance.now();
    try {
      const graph = this.elkGraph();
      const result = await this.elk.layout(graph);
      this.applyPositions(result);
      this.lastLayoutMs = performance.now() - started;
      if (this.firstDrawnAt === undefined && this.cy.nodes().length > 0) {
        requestAnimationFrame(() => requestAnimationFrame(() => (this.firstDrawnAt = performance.now())));
      }
    } finally {
      this.layoutRunning = false;
      this.lastLayoutAt = performance.now();
      if (this.layoutWanted) this.requestLayout();
    }
  }

  private elkGraph(): ElkNode {
    const container = this.cy.container()!;
    const aspect = Math.max(0.5, container.clientWidth / Math.max(1, container.clientHeight));
    const inside = new Map<string, ElkExtendedEdge[]>();
    this.cy.edges().forEach((e) => {
      const ns = e.source().data("parent") as string;
      if (ns !== e.target().data("parent")) return;
      const list = inside.get(ns) ?? [];
      list.push({ id: e.id(), sources: [e.source().id()], targets: [e.target().id()] });
      inside.set(ns, list);
    });
    const namespaces: ElkNode[] = [];
    this.cy.nodes(".namespace").forEach((ns) => {
      const children = ns.children().map((n) => ({ id: n.id(), width: n.data("width") as number, height: NODE_HEIGHT }));
      const edges = inside.get(ns.id()) ?? [];
      namespaces.push({
        id: ns.id(),
        children,
        edges,
        layoutOptions: {
          "elk.algorithm": edges.length ? "layered" : "rectpacking",
          "elk.direction": "RIGHT",
          "elk.padding": `[top=${NS_PADDING + NS_LABEL_ROOM},left=${NS_PADDING},bottom=${NS_PADDING},right=${NS_PADDING}]`,
          "elk.spacing.nodeNode": "22",
          // Room for an edge's label between the columns.
          "elk.layered.spacing.nodeNodeBetweenLayers": "110",
          "elk.aspectRatio": "1.6",
          "elk.layered.considerModelOrder.strategy": "NODES_AND_EDGES",
        },
      });
    });
    return {
      id: "root",
      children: namespaces,
      layoutOptions: {
        "elk.algorithm": "rectpacking",
        "elk.aspectRatio": aspect.toFixed(2),
        "elk.spacing.nodeNode": "90",
        "elk.hierarchyHandling": "SEPARATE_CHILDREN",
      },
    };
  }

  private applyPositions(root: ElkNode): void {
    const positions = new Map<string, { x: number; y: number }>();
    for (const ns of root.children ?? []) {
      for (const n of ns.children ?? []) {
        positions.set(n.id, { x: (ns.x ?? 0) + (n.x ?? 0) + (n.width ?? 0) / 2, y: (ns.y ?? 0) + (n.y ?? 0) + NODE_HEIGHT / 2 });
      }
    }
    this.cy.batch(() => {
      this.cy.nodes(".workload").forEach((n) => {
        const p = positions.get(n.id());
        if (p) n.position(p);
      });
    });
    this.fit();
  }
}

function nodeWidth(label: string): number {
  return Math.max(70, Math.min(220, label.length * 6.6 + 24));
}

function edgeData(e: MapEdge): Record<string, unknown> {
  const lines = [`${fmt.rate(e.flowsPerSec)} flows/s · ${fmt.bytes(e.bytesPerSec)}/s`];
  const extra = [];
  if (e.rttUs) extra.push(`RTT ${fmt.rttUs(e.rttUs)}`);
  if (e.drops) extra.push(`${e.drops} dropped`);
  if (extra.length) lines.push(extra.join(" · "));
  return {
    id: e.id,
    source: e.source,
    target: e.target,
    flowsPerSec: e.flowsPerSec,
    bytesPerSec: e.bytesPerSec,
    rttUs: e.rttUs,
    drops: e.drops,
    ports: e.ports,
    label: lines.join("\n"),
    width: 1.2 + Math.min(5, Math.log10(1 + e.flowsPerSec) * 1.6),
  };
}

const STYLE: cytoscape.StylesheetJson = [
  {
    selector: "node.namespace",
    style: {
      shape: "round-rectangle",
      "background-color": "#f1f5f9",
      "background-opacity": 1,
      "border-width": 1,
      "border-color": "#cbd5e1",
      label: "data(label)",
      "text-valign": "top",
      "text-halign": "center",
      "text-margin-y": -6,
      "font-size": 13,
      "font-weight": "bold",
      color: "#334155",
      padding: `${NS_PADDING}px`,
      "min-zoomed-font-size": 6,
    },
  },
  { selector: "node.namespace.special", style: { "background-color": "#fafafa", "border-style": "dashed" } },
  {
    selector: "node.workload",
    style: {
      shape: "round-rectangle",
      width: "data(width)",
      height: NODE_HEIGHT,
      "background-color": "#ffffff",
      "border-width": 1.5,
      "border-color": "#3b82f6",
      label: "data(label)",
      "text-valign": "center",
      "text-halign": "center",
      "font-size": 11,
      "font-weight": "normal",
      color: "#0f172a",
      "min-zoomed-font-size": 7,
    },
  },
  { selector: "node.workload.external", style: { shape: "ellipse", "border-color": "#94a3b8", "background-color": "#f8fafc" } },
  { selector: "node.workload.dropping", style: { "border-color": "#dc2626", "border-width": 2.5, "background-color": "#fef2f2" } },
  { selector: "node:selected", style: { "overlay-color": "#2563eb", "overlay-opacity": 0.15, "overlay-padding": 4 } },
  {
    selector: "edge",
    style: {
      "curve-style": "bezier",
      width: "data(width)",
      "line-color": "#94a3b8",
      "line-opacity": 0.85,
      "target-arrow-shape": "triangle",
      "target-arrow-color": "#94a3b8",
      "arrow-scale": 0.8,
      label: "data(label)",
      "font-size": 9,
      color: "#334155",
      "text-background-color": "#ffffff",
      "text-background-opacity": 0.9,
      "text-background-padding": "2px",
      "text-wrap": "wrap",
      "min-zoomed-font-size": 8,
    },
  },
  {
    selector: "edge.dropping",
    style: { "line-color": "#dc2626", "target-arrow-color": "#dc2626", "line-style": "dashed", "line-opacity": 1, color: "#991b1b", "z-index": 10 },
  },
  { selector: "edge:selected", style: { "line-color": "#2563eb", "target-arrow-color": "#2563eb", "z-index": 20 } },
];
