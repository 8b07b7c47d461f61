// The service map: cytoscape draws it, ELK places it (in a Web Worker). Each
// namespace is laid out on its own and the namespaces are packed into the
// viewport's shape; edges between namespaces do not move nodes, which keeps
// the layout stable. Large maps skip ELK for a grid packing (see
// packedPlacement). A namespace is drawn as a plain box behind its
// workloads, sized by ELK, rather than as a cytoscape compound node: compound
// bookkeeping costs cytoscape seconds per frame at thousands of edges. Small maps get ELK's layered layout
// (callers left of callees); large ones a packed grid with the busiest
// workloads first, because layered layout of thousands of edges takes
// seconds while a grid takes milliseconds.
import cytoscape, { type Core, type ElementDefinition } from "cytoscape";
import ELK from "elkjs/lib/elk-api.js";
import type { ElkExtendedEdge, ElkNode } from "elkjs/lib/elk-api";
import type { MapEdge, MapNode, ServiceMap } from "../../shared/wire";
import { EXTERNAL_NAMESPACE, HIDDEN_NAMESPACE } from "../../shared/flow-view";
import { EdgeLayer, type LayerBox } from "./edge-layer";
import * as fmt from "./format";

const NODE_HEIGHT = 30;
const NS_LABEL_ROOM = 22;
const NS_PADDING = 14;
const MIN_RELAYOUT_INTERVAL_MS = 2000;
const MAX_FIT_ZOOM = 1.3;
/** Above either size, namespaces are packed into grids (without ELK) instead of layered. */
const LAYERED_MAX_WORKLOADS = 150;
const LAYERED_MAX_EDGES = 400;
/** Up to this many edges every edge is labelled; above, labels show on hover and for the selected workload. */
const LABELS_ALWAYS_MAX_EDGES = 300;
/**
 * Above this many edges, edges and namespace boxes are painted by EdgeLayer
 * as plain lines; cytoscape draws only the selected workload's edges.
 */
const BULK_EDGES = 1500;

export interface MapSelection {
  kind: "node" | "edge";
  data: Record<string, unknown>;
}

type Point = { x: number; y: number };
type Box = Point & { w: number; h: number };
interface Placement {
  workloads: Map<string, Point>;
  /** Namespace boxes by "ns:<name>", centre and size. */
  namespaces: Map<string, Box>;
}

export class ServiceMapView {
  readonly cy: Core;
  /** Started on the first layered layout: large maps never load ELK's 1.6 MB runtime. */
  private elk?: InstanceType<typeof ELK>;
  /** The latest map from the server; cytoscape holds only what is placed. */
  private current: ServiceMap = { nodes: [], edges: [], windowSeconds: 0 };
  private readonly edgeStats = new Map<string, MapEdge>();
  private readonly nodeDrops = new Map<string, number>();
  /** Placed elements by id: cy.getElementById builds a collection per call, too slow for thousands a second. */
  private readonly placed = new Map<string, cytoscape.SingularElementReturnValue>();
  private readonly edgeLayer: EdgeLayer;
  private labelsAlways = true;
  private bulk = false;
  /** The selected workload of a bulk map, whose edges cytoscape draws with their figures. */
  private focused?: string;
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
      autoungrabify: true,
      hideEdgesOnViewport: false,
      boxSelectionEnabled: false,
    });
    this.edgeLayer = new EdgeLayer(container, this.cy);
    const cy = this.cy;
    cy.on("tap", "node.workload", (e) => onSelect({ kind: "node", data: { ...e.target.data(), drops: this.nodeDrops.get(e.target.id()) ?? 0 } }));
    cy.on("tap", "edge", (e) => onSelect({ kind: "edge", data: { ...this.edgeStats.get(e.target.id()) } }));
    cy.on("tap", (e) => {
      if (e.target === cy) onSelect(undefined);
    });
    cy.on("mouseover", "edge", (e) => this.showLabel(e.target, true));
    cy.on("mouseout", "edge", (e) => this.showLabel(e.target, false));
    cy.on("select", "node.workload", (e) => {
      if (this.bulk) this.focus(e.target.id());
      else e.target.connectedEdges().forEach((edge: cytoscape.EdgeSingular) => this.showLabel(edge, true));
    });
    cy.on("unselect", "node.workload", (e) => {
      if (this.bulk) this.focus(undefined);
      else e.target.connectedEdges().forEach((edge: cytoscape.EdgeSingular) => this.showLabel(edge, false));
    });
  }

  get counts(): { nodes: number; edges: number; namespaces: number } {
    const edges = this.bulk ? this.edgeLayer.edgeCount : this.cy.edges().length;
    return { nodes: this.cy.nodes(".workload").length, edges, namespaces: this.cy.nodes(".namespace").length };
  }

  /** Fits the map to the pane, without blowing a small map up past readable size. */
  /**
   * Fits a fresh placement without asking cytoscape for the elements'
   * bounding box, which measures every label: the namespace boxes (and the
   * label room above them) bound the whole map.
   */
  private fitTo(placement: Placement): void {
    if (placement.namespaces.size === 0) return;
    let x1 = Infinity;
    let y1 = Infinity;
    let x2 = -Infinity;
    let y2 = -Infinity;
    for (const b of placement.namespaces.values()) {
      x1 = Math.min(x1, b.x - b.w / 2);
      x2 = Math.max(x2, b.x + b.w / 2);
      y1 = Math.min(y1, b.y - b.h / 2 - NS_LABEL_ROOM);
      y2 = Math.max(y2, b.y + b.h / 2);
    }
    const padding = 40;
    const zoom = Math.min(MAX_FIT_ZOOM, (this.cy.width() - 2 * padding) / (x2 - x1), (this.cy.height() - 2 * padding) / (y2 - y1));
    this.cy.viewport({ zoom, pan: { x: this.cy.width() / 2 - zoom * ((x1 + x2) / 2), y: this.cy.height() / 2 - zoom * ((y1 + y2) / 2) } });
  }

  fit(): void {
    this.cy.fit(undefined, 40);
    if (this.cy.zoom() > MAX_FIT_ZOOM) {
      this.cy.zoom(MAX_FIT_ZOOM);
      this.cy.center();
    }
  }

  clear(): void {
    this.current = { nodes: [], edges: [], windowSeconds: 0 };
    this.edgeStats.clear();
    this.nodeDrops.clear();
    this.placed.clear();
    this.focused = undefined;
    this.cy.elements().remove();
    this.edgeLayer.clear();
  }

  update(map: ServiceMap): void {
    this.current = map;
    const ids = new Set(map.nodes.map((n) => n.id));
    const added = map.nodes.some((n) => !this.placed.has(n.id));
    let removed = false;
    for (const [id, ele] of this.placed) if (ele.hasClass("workload") && !ids.has(id)) removed = true;
    this.sync();
    if (added || removed) this.requestLayout();
  }

  /**
   * Brings cytoscape in line with the current map: figures of placed
   * elements change only when what is drawn changes (width level, drop
   * state, label), so a steady stream costs little; new workloads wait for
   * `positions` from a layout so nothing is drawn in a heap first.
   */
  private sync(placement?: Placement): Set<string> {
    const added = new Set<string>();
    const cy = this.cy;
    const map = this.current;
    this.labelsAlways = map.edges.length <= LABELS_ALWAYS_MAX_EDGES;
    const bulk = map.edges.length > BULK_EDGES;
    cy.batch(() => {
      const wanted = new Set<string>();
      const newNodes: ElementDefinition[] = [];
      const newNamespaces = new Set<string>();
      for (const n of map.nodes) {
        const nsId = `ns:${n.namespace}`;
        wanted.add(nsId).add(n.id);
        const existing = this.placed.get(n.id);
        if (existing) {
          // Figures live outside cytoscape: changing element data repaints it.
          this.nodeDrops.set(n.id, n.drops);
          if (existing.hasClass("dropping") !== n.drops > 0) existing.toggleClass("dropping", n.drops > 0);
          continue;
        }
        this.nodeDrops.set(n.id, n.drops);
        const position = placement?.workloads.get(n.id);
        const box = placement?.namespaces.get(nsId);
        if (!position || !box) continue;
        if (!this.placed.has(nsId) && !newNamespaces.has(nsId)) {
          newNamespaces.add(nsId);
          const special = n.namespace === EXTERNAL_NAMESPACE || n.namespace === HIDDEN_NAMESPACE;
          newNodes.push({
            group: "nodes",
            data: { id: nsId, label: n.namespace, w: box.w, h: box.h },
            position: { x: box.x, y: box.y },
            classes: ["namespace", special ? "special" : "", bulk ? "painted" : ""].join(" "),
          });
        }
        const classes = ["workload", n.kind === "External" ? "external" : "", n.drops > 0 ? "dropping" : ""].join(" ");
        newNodes.push({
          group: "nodes",
          data: { id: n.id, label: n.name, namespace: n.namespace, name: n.name, kind: n.kind, width: nodeWidth(n.name) },
          position,
          classes,
        });
      }
      if (newNodes.length) {
        cy.add(newNodes).forEach((ele) => {
          this.placed.set(ele.id(), ele);
          added.add(ele.id());
        });
      }
      for (const [id, ele] of this.placed) {
        if (ele.isNode() && !wanted.has(id)) {
          // Removing a node removes its edges too.
          ele.connectedEdges().forEach((edge) => void this.placed.delete(edge.id()));
          ele.remove();
          this.placed.delete(id);
        }
      }

      this.edgeStats.clear();
      const newEdges: ElementDefinition[] = [];
      const inCytoscape = (e: MapEdge) => !bulk || e.source === this.focused || e.target === this.focused;
      for (const e of map.edges) {
        this.edgeStats.set(e.id, e);
        if (!inCytoscape(e)) continue;
        const width = widthLevel(e.flowsPerSec);
        const existing = this.placed.get(e.id);
        if (existing) {
          // Bulk edges have one width: no restyle for rate changes.
          if (!bulk && existing.data("width") !== width) existing.data("width", width);
          if (existing.hasClass("dropping") !== e.drops > 0) existing.toggleClass("dropping", e.drops > 0);
          if (this.labelsAlways || existing.data("label")) {
            const label = edgeLabel(e);
            if (existing.data("label") !== label) existing.data("label", label);
          }
        } else if (this.placed.has(e.source) && this.placed.has(e.target)) {
          const label = this.labelsAlways || bulk ? edgeLabel(e) : "";
          newEdges.push({ group: "edges", data: { id: e.id, source: e.source, target: e.target, width, label }, classes: e.drops > 0 ? "dropping" : "" });
        }
      }
      if (newEdges.length) cy.add(newEdges).forEach((ele) => void this.placed.set(ele.id(), ele));
      for (const [id, ele] of this.placed) {
        const stats = this.edgeStats.get(id);
        if (ele.isEdge() && (!stats || !inCytoscape(stats))) {
          ele.remove();
          this.placed.delete(id);
        }
      }
      if (bulk !== this.bulk) cy.nodes(".namespace").toggleClass("painted", bulk);
      this.bulk = bulk;
    });
    this.paintLayer();
    return added;
  }

  /** Hands a bulk map's namespace boxes and edges, at the placed positions, to the edge layer. */
  private paintLayer(): void {
    if (!this.bulk) {
      if (this.edgeLayer.edgeCount) this.edgeLayer.clear();
      return;
    }
    const boxes: LayerBox[] = [];
    for (const [id, ele] of this.placed) {
      if (!id.startsWith("ns:")) continue;
      const p = ele.position();
      boxes.push({ x: p.x, y: p.y, w: ele.data("w"), h: ele.data("h"), fill: ele.hasClass("special") ? "#fafafa" : "#f1f5f9" });
    }
    const lines: number[] = [];
    const drops: number[] = [];
    for (const e of this.current.edges) {
      const s = this.placed.get(e.source);
      const t = this.placed.get(e.target);
      if (!s || !t) continue;
      const a = s.position();
      const b = t.position();
      (e.drops > 0 ? drops : lines).push(a.x, a.y, b.x, b.y);
    }
    this.edgeLayer.set(boxes, Float64Array.from(lines), Float64Array.from(drops));
  }

  private focus(id: string | undefined): void {
    this.focused = id;
    this.sync();
  }

  private showLabel(edge: cytoscape.EdgeSingular, show: boolean): void {
    if (this.labelsAlways) return;
    const stats = this.edgeStats.get(edge.id());
    const keep = edge.source().selected() || edge.target().selected();
    edge.data("label", (show || keep) && stats ? edgeLabel(stats) : "");
  }

  private requestLayout(): void {
    this.layoutWanted = true;
    if (this.layoutRunning || this.layoutTimer !== undefined) return;
    const wait = Math.max(0, this.lastLayoutAt + MIN_RELAYOUT_INTERVAL_MS - performance.now());
    if (this.firstDrawnAt === undefined) void this.runLayout();
    else
      this.layoutTimer = window.setTimeout(() => {
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
      const plan = this.layoutPlan();
      const placement = "packed" in plan ? plan.packed : placementOf(await (this.elk ??= new ELK({ workerUrl: "/assets/elk-worker.js" })).layout(plan.elk));
      // Elements added now are already where the placement puts them.
      const added = this.sync(placement);
      this.cy.batch(() => {
        for (const [id, ele] of this.placed) {
          if (!ele.isNode() || added.has(id)) continue;
          const box = placement.namespaces.get(id);
          if (box) {
            ele.data({ w: box.w, h: box.h });
            ele.position({ x: box.x, y: box.y });
            continue;
          }
          const p = placement.workloads.get(id);
          if (p) ele.position(p);
        }
      });
      this.paintLayer();
      this.fitTo(placement);
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

  /**
   * How to place the current map (not what is drawn, which may lag behind):
   * an ELK graph, or for large maps a grid packing computed here, which takes
   * milliseconds where ELK's runtime takes seconds for the same boxes.
   */
  private layoutPlan(): { elk: ElkNode } | { packed: Placement } {
    const map = this.current;
    const container = this.cy.container()!;
    const aspect = Math.max(0.5, container.clientWidth / Math.max(1, container.clientHeight));
    const namespaceOf = new Map(map.nodes.map((n) => [n.id, n.namespace]));
    const inside = new Map<string, ElkExtendedEdge[]>();
    const degree = new Map<string, number>();
    let intraEdges = 0;
    for (const e of map.edges) {
      degree.set(e.source, (degree.get(e.source) ?? 0) + 1);
      degree.set(e.target, (degree.get(e.target) ?? 0) + 1);
      const ns = namespaceOf.get(e.source);
      if (ns === undefined || ns !== namespaceOf.get(e.target)) continue;
      const list = inside.get(ns) ?? [];
      list.push({ id: e.id, sources: [e.source], targets: [e.target] });
      inside.set(ns, list);
      intraEdges++;
    }
    const members = new Map<string, MapNode[]>();
    for (const n of map.nodes) {
      const list = members.get(n.namespace) ?? [];
      list.push(n);
      members.set(n.namespace, list);
    }
    const layered = map.nodes.length <= LAYERED_MAX_WORKLOADS && intraEdges <= LAYERED_MAX_EDGES;
    if (!layered) return { packed: packedPlacement(members, degree, aspect) };
    const padding = `[top=${NS_PADDING + NS_LABEL_ROOM},left=${NS_PADDING},bottom=${NS_PADDING},right=${NS_PADDING}]`;
    const namespaces: ElkNode[] = [];
    for (const ns of [...members.keys()].sort()) {
      const nodes = members.get(ns)!;
      const edges = inside.get(ns) ?? [];
      const children = (list: MapNode[]) => list.map((n) => ({ id: n.id, width: nodeWidth(n.name), height: NODE_HEIGHT }));
      if (layered && edges.length) {
        namespaces.push({
          id: `ns:${ns}`,
          children: children(nodes),
          edges,
          layoutOptions: {
            "elk.algorithm": "layered",
            "elk.direction": "RIGHT",
            "elk.padding": padding,
            "elk.spacing.nodeNode": "22",
            // Room for an edge's label between the columns.
            "elk.layered.spacing.nodeNodeBetweenLayers": "110",
          },
        });
        continue;
      }
      namespaces.push({
        id: `ns:${ns}`,
        children: children(nodes),
        layoutOptions: {
          "elk.algorithm": "box",
          "elk.padding": padding,
          "elk.spacing.nodeNode": "22",
          "elk.aspectRatio": "1.6",
          "elk.box.packingMode": "SIMPLE",
        },
      });
    }
    return {
      elk: {
        id: "root",
        children: namespaces,
        layoutOptions: {
          "elk.algorithm": "rectpacking",
          "elk.aspectRatio": aspect.toFixed(2),
          "elk.spacing.nodeNode": "90",
          "elk.hierarchyHandling": "SEPARATE_CHILDREN",
        },
      },
    };
  }
}

const GRID_GAP = 14;
const NAMESPACE_GAP = 40;

/**
 * A grid per namespace (busiest workloads first, so the eye lands on what
 * matters), the grids shelf-packed row by row to the pane's aspect ratio.
 */
function packedPlacement(members: Map<string, MapNode[]>, degree: Map<string, number>, aspect: number): Placement {
  const grids = [...members.keys()].sort().map((ns) => {
    const nodes = members.get(ns)!.sort((a, b) => (degree.get(b.id) ?? 0) - (degree.get(a.id) ?? 0) || a.name.localeCompare(b.name));
    const cellW = Math.max(...nodes.map((n) => nodeWidth(n.name))) + GRID_GAP;
    const cellH = NODE_HEIGHT + GRID_GAP;
    const cols = Math.max(1, Math.ceil(Math.sqrt((nodes.length * 1.6 * cellH) / cellW)));
    const rows = Math.ceil(nodes.length / cols);
    const w = cols * cellW - GRID_GAP + 2 * NS_PADDING;
    const h = rows * cellH - GRID_GAP + 2 * NS_PADDING;
    return { ns, nodes, cellW, cellH, cols, w, h };
  });
  const area = grids.reduce((sum, g) => sum + (g.w + NAMESPACE_GAP) * (g.h + NS_LABEL_ROOM + NAMESPACE_GAP), 0);
  const rowWidth = Math.max(Math.max(...grids.map((g) => g.w)), Math.sqrt(area * aspect));
  const workloads = new Map<string, Point>();
  const namespaces = new Map<string, Box>();
  let x = 0;
  let y = 0;
  let shelf = 0;
  for (const g of grids) {
    if (x > 0 && x + g.w > rowWidth) {
      x = 0;
      y += shelf + NAMESPACE_GAP;
      shelf = 0;
    }
    const top = y + NS_LABEL_ROOM;
    namespaces.set(`ns:${g.ns}`, { x: x + g.w / 2, y: top + g.h / 2, w: g.w, h: g.h });
    g.nodes.forEach((n, i) => {
      const col = i % g.cols;
      const row = Math.floor(i / g.cols);
      workloads.set(n.id, { x: x + NS_PADDING + col * g.cellW + (g.cellW - GRID_GAP) / 2, y: top + NS_PADDING + row * g.cellH + NODE_HEIGHT / 2 });
    });
    x += g.w + NAMESPACE_GAP;
    shelf = Math.max(shelf, g.h + NS_LABEL_ROOM);
  }
  return { workloads, namespaces };
}

/** Cytoscape positions (centres) from ELK's (top-left corners, relative to the parent). */
function placementOf(root: ElkNode): Placement {
  const workloads = new Map<string, Point>();
  const namespaces = new Map<string, Box>();
  for (const ns of root.children ?? []) {
    const x = ns.x ?? 0;
    const y = ns.y ?? 0;
    const w = ns.width ?? 0;
    // The top of ELK's box is room for the label, which cytoscape draws above the box.
    const h = (ns.height ?? 0) - NS_LABEL_ROOM;
    namespaces.set(ns.id, { x: x + w / 2, y: y + NS_LABEL_ROOM + h / 2, w, h });
    for (const n of ns.children ?? []) {
      workloads.set(n.id, { x: x + (n.x ?? 0) + (n.width ?? 0) / 2, y: y + (n.y ?? 0) + NODE_HEIGHT / 2 });
    }
  }
  return { workloads, namespaces };
}

function nodeWidth(label: string): number {
  return Math.max(70, Math.min(220, label.length * 6.6 + 24));
}

/** Edge width in a few steps, so small rate changes do not restyle the edge. */
function widthLevel(flowsPerSec: number): number {
  return 1.2 + Math.min(5, Math.round(Math.log10(1 + flowsPerSec) * 2) * 0.8);
}

function edgeLabel(e: MapEdge): string {
  const lines = [`${fmt.rate(e.flowsPerSec)} flows/s · ${fmt.bytes(e.bytesPerSec)}/s`];
  const extra = [];
  if (e.rttUs) extra.push(`RTT ${fmt.rttUs(e.rttUs)}`);
  if (e.drops) extra.push(`${e.drops} dropped`);
  if (extra.length) lines.push(extra.join(" · "));
  return lines.join("\n");
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
      width: "data(w)",
      height: "data(h)",
      "text-valign": "top",
      "text-halign": "center",
      "text-margin-y": -4,
      "font-size": 13,
      "font-weight": "bold",
      color: "#334155",
      "min-zoomed-font-size": 6,
      // Behind edges and workloads, and not a tap target: taps reach the background.
      "z-index-compare": "manual",
      "z-index": -1,
      events: "no",
    },
  },
  { selector: "node.namespace.special", style: { "background-color": "#fafafa", "border-style": "dashed" } },
  // The edge layer paints the box beneath the edges; cytoscape keeps border and label.
  { selector: "node.namespace.painted", style: { "background-opacity": 0 } },
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
    style: { "line-color": "#dc2626", "target-arrow-color": "#dc2626", "line-style": "dashed", "line-opacity": 1, color: "#991b1b" },
  },
  { selector: "edge:selected", style: { "line-color": "#2563eb", "target-arrow-color": "#2563eb", "z-index": 20 } },
];
