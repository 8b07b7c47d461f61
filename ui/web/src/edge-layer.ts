// Paints a large map's namespace boxes and edges on one canvas beneath
// cytoscape's. Thousands of cytoscape edges cost seconds to add and a full
// per-edge style walk on every repaint; here all edges are two strokes (one
// path for ordinary traffic, one for dropped), redrawn when the map or the
// viewport changes. Cytoscape keeps the workloads, the namespace borders and
// labels, and the selected workload's edges with their figures.
import type { Core } from "cytoscape";

export interface LayerBox {
  x: number;
  y: number;
  w: number;
  h: number;
  fill: string;
}

const EDGE_COLOR = "rgba(100, 116, 139, 0.3)";
const DROP_COLOR = "rgba(220, 38, 38, 0.85)";
/** Lines never thinner than this many screen pixels, so a zoomed-out map still shows its traffic. */
const MIN_SCREEN_WIDTH = 0.6;

export class EdgeLayer {
  private readonly canvas: HTMLCanvasElement;
  private readonly ctx: CanvasRenderingContext2D;
  private boxes: LayerBox[] = [];
  /** Segments as x1, y1, x2, y2 in model coordinates. */
  private lines: Float64Array = new Float64Array(0);
  private drops: Float64Array = new Float64Array(0);
  private frame?: number;

  constructor(
    private readonly container: HTMLElement,
    private readonly cy: Core,
  ) {
    this.canvas = document.createElement("canvas");
    this.canvas.className = "edge-layer";
    // Before cytoscape's own layers in the container, so they paint over it.
    container.prepend(this.canvas);
    this.ctx = this.canvas.getContext("2d", { alpha: true })!;
    cy.on("viewport resize", () => this.schedule());
  }

  get edgeCount(): number {
    return (this.lines.length + this.drops.length) / 4;
  }

  set(boxes: LayerBox[], lines: Float64Array, drops: Float64Array): void {
    this.boxes = boxes;
    this.lines = lines;
    this.drops = drops;
    this.schedule();
  }

  clear(): void {
    this.set([], new Float64Array(0), new Float64Array(0));
  }

  private schedule(): void {
    if (this.frame !== undefined) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = undefined;
      this.draw();
    });
  }

  private draw(): void {
    const w = this.container.clientWidth;
    const h = this.container.clientHeight;
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    const ctx = this.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, w, h);
    if (!this.boxes.length && !this.lines.length && !this.drops.length) return;
    const zoom = this.cy.zoom();
    const pan = this.cy.pan();
    ctx.setTransform(zoom, 0, 0, zoom, pan.x, pan.y);
    for (const b of this.boxes) {
      ctx.fillStyle = b.fill;
      ctx.beginPath();
      ctx.roundRect(b.x - b.w / 2, b.y - b.h / 2, b.w, b.h, 6);
      ctx.fill();
    }
    this.stroke(this.lines, EDGE_COLOR, Math.max(1, MIN_SCREEN_WIDTH / zoom));
    this.stroke(this.drops, DROP_COLOR, Math.max(1.5, (1.5 * MIN_SCREEN_WIDTH) / zoom));
  }

  private stroke(segments: Float64Array, color: string, width: number): void {
    if (!segments.length) return;
    const ctx = this.ctx;
    ctx.strokeStyle = color;
    ctx.lineWidth = width;
    ctx.beginPath();
    for (let i = 0; i < segments.length; i += 4) {
      ctx.moveTo(segments[i], segments[i + 1]);
      ctx.lineTo(segments[i + 2], segments[i + 3]);
    }
    ctx.stroke();
  }
}
