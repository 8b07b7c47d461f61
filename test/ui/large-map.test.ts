// A map past the bulk threshold (2,000 edges) in headless Chromium, fed by an
// Observer gRPC server: edges and namespace boxes are painted on the edge
// layer, dropped traffic stands out in red, and selecting a workload brings
// its edges back as labelled cytoscape edges.
import * as path from "node:path";
import type { Page } from "playwright-core";
import { buildWebBundle } from "../../ui/build";
import { firstMapEdges, REPO, startFlowlens, stopFlowlens, type FlowlensProcess } from "./_processes";
import { launchChromium, type TestBrowser } from "./browser";
import { makeFlow } from "./flow-factory";
import { startObserverServer, type ObserverServer } from "./observer-server";

const SCREENSHOT = path.join(REPO, "test-artifacts/ui-service-map-large.png");
const WORKLOADS = 100;
const EDGES = 2000;

let observer: ObserverServer | undefined;
let ui: FlowlensProcess | undefined;
let browser: TestBrowser | undefined;
let feeder: NodeJS.Timeout | undefined;

const workload = (i: number) => ({ ns: `team-${i % 5}`, pod: `svc-${i}-0`, ip: `198.18.5.${100 + i}`, workload: `svc-${i}` });

beforeAll(async () => {
  await buildWebBundle();
  observer = await startObserverServer();
  ui = await startFlowlens(["ui", "--relay", observer.address, "--listen-address", "127.0.0.1:0"], /serving (http:\/\/\S+)/);
  browser = await launchChromium();
  const deadline = Date.now() + 15_000;
  while (!observer.requests.some((r) => r.follow) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  // Every pair (a, a + k) for k = 1..20: 2,000 distinct edges; svc-0's outgoing edges drop.
  const flows = (sources: number) => {
    const list = [];
    for (let a = 0; a < sources; a++) {
      for (let k = 1; k <= EDGES / WORKLOADS; k++) {
        list.push(makeFlow({ src: workload(a), dst: workload((a + k) % WORKLOADS), dport: 8080, bytes: 1000, srttUs: 400, verdict: a === 0 ? "DROPPED" : "FORWARDED" }));
      }
    }
    return list;
  };
  observer.push(flows(WORKLOADS));
  // Edges stay on the map for minutes; drops count over the last 10 s, so svc-0's keep coming.
  feeder = setInterval(() => observer!.push(flows(1)), 1000);
  // The page opens once the server holds every edge, so its first map is the whole map.
  while ((await firstMapEdges(ui.match[1])) < EDGES) {
    if (Date.now() > deadline + 30_000) throw new Error(`the UI server did not receive the ${EDGES} edges' flows within 45 s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}, 90_000);

afterAll(async () => {
  clearInterval(feeder);
  try {
    await browser?.close();
  } finally {
    if (ui) await stopFlowlens(ui);
    await observer?.close();
  }
}, 30_000);

function counts(page: Page): Promise<{ nodes: number; edges: number; cyEdges: number; painted: number; namespaces: number }> {
  return page.evaluate(() => {
    const view = (window as any).__flowlens.mapView;
    return { ...view.counts, cyEdges: view.cy.edges().length, painted: view.cy.nodes(".namespace.painted").length };
  });
}

/** Pixels of the edge layer that are clearly red (dropped traffic) and clearly grey (other traffic). */
function layerPixels(page: Page): Promise<{ red: number; grey: number }> {
  return page.evaluate(() => {
    const canvas = document.querySelector("canvas.edge-layer") as HTMLCanvasElement;
    const px = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height).data;
    let red = 0;
    let grey = 0;
    for (let i = 0; i < px.length; i += 4) {
      if (px[i + 3] < 40) continue;
      if (px[i] > 150 && px[i + 1] < 90) red++;
      else if (Math.abs(px[i] - px[i + 2]) < 40) grey++;
    }
    return { red, grey };
  });
}

test("a 2,000-edge map is painted on the edge layer, drops in red, a selected workload's edges labelled", async () => {
  const page = await browser!.context.newPage();
  try {
    await page.goto(ui!.match[1]);
    // Generous: with the rest of the suite running on two cores, the browser lays the map out several times slower.
    await page.waitForFunction((n) => (window as any).__flowlens.mapView.counts.edges === n, EDGES, { timeout: 240_000 });
    const c = await counts(page);
    expect(c).toMatchObject({ nodes: WORKLOADS, edges: EDGES, cyEdges: 0, namespaces: 5, painted: 5 });
    await page.waitForFunction(() => document.querySelector("canvas.edge-layer")!.getBoundingClientRect().width > 0);
    const pixels = await layerPixels(page);
    expect(pixels.red).toBeGreaterThan(100);
    expect(pixels.grey).toBeGreaterThan(1000);
    await page.screenshot({ path: SCREENSHOT });

    await page.evaluate(() => (window as any).__flowlens.mapView.cy.getElementById("team-0/svc-0").select());
    const focused = await page.evaluate(() =>
      (window as any).__flowlens.mapView.cy.edges().map((e: any) => ({ source: e.source().id(), label: e.data("label"), dropping: e.hasClass("dropping") })),
    );
    // svc-0 calls 20 workloads and is called by 20.
    expect(focused).toHaveLength(40);
    expect(focused.every((e: { label: string }) => /flows\/s/.test(e.label))).toBe(true);
    expect(focused.filter((e: { source: string; dropping: boolean }) => e.source === "team-0/svc-0" && e.dropping)).toHaveLength(20);

    await page.evaluate(() => (window as any).__flowlens.mapView.cy.getElementById("team-0/svc-0").unselect());
    expect((await counts(page)).cyEdges).toBe(0);
  } finally {
    await page.close();
  }
}, 360_000);
