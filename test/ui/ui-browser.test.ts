// `flowlens ui` in headless Chromium, backed by the real relay and agent
// observing real traffic between test pods: the map, filters, export, pause,
// history, the unavailable-relay banner, sign-in and the namespace allow-list.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import type { Page } from "playwright-core";
import type { Flow } from "../../proto/types";
import { buildWebBundle } from "../../ui/build";
import { REPO, runFlowlens, startFlowlens, stopFlowlens, type FlowlensProcess } from "./_processes";
import { CART_PORT, REDIS_PORT, TestCluster } from "./_test-cluster";
import { launchChromium, type TestBrowser } from "./browser";

const SCREENSHOT = path.join(REPO, "test-artifacts/ui-service-map.png");
const TOKEN = crypto.randomBytes(24).toString("hex");

const cluster = new TestCluster();
const { shop, data, payments } = cluster.ns;
let browser: TestBrowser | undefined;
let tmpDir = "";
const uis: FlowlensProcess[] = [];

async function startUi(args: string[]): Promise<string> {
  const ui = await startFlowlens(["ui", "--relay", cluster.relayAddress, "--listen-address", "127.0.0.1:0", ...args], /serving (http:\/\/\S+)/);
  uis.push(ui);
  return ui.match[1];
}

beforeAll(async () => {
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), "flowlens-ui-test-"));
  await buildWebBundle();
  await cluster.start();
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  try {
    await browser?.close();
    for (const ui of uis) await stopFlowlens(ui);
  } finally {
    await cluster.destroy();
    fs.rmSync(tmpDir, { recursive: true, force: true });
  }
}, 60_000);

interface MapState {
  nodes: string[];
  edges: Array<{ id: string; dropping: boolean; label: string }>;
  namespaces: string[];
}

function mapState(page: Page): Promise<MapState> {
  return page.evaluate(() => {
    const cy = (window as any).__flowlens.mapView.cy;
    return {
      nodes: cy.nodes(".workload").map((n: any) => n.id()),
      edges: cy.edges().map((e: any) => ({ id: e.id(), dropping: e.hasClass("dropping"), label: e.data("label") })),
      namespaces: cy.nodes(".namespace").map((n: any) => n.data("label")),
    };
  });
}

/** Waits until the map holds every given edge (ids "ns/workload->ns/workload"). */
async function waitForEdges(page: Page, ids: string[], timeout = 30_000): Promise<void> {
  await page.waitForFunction(
    (wanted) => {
      const cy = (window as any).__flowlens?.mapView.cy;
      return cy && wanted.every((id: string) => cy.getElementById(id).nonempty());
    },
    ids,
    { timeout },
  );
}

function tableRows(page: Page): Promise<Array<{ uuid: string; text: string }>> {
  return page.$$eval("#flow-table tbody tr", (rows) => rows.map((r) => ({ uuid: (r as HTMLElement).dataset.uuid ?? "", text: r.textContent ?? "" })));
}

/** Sets the filter bar to exactly `filters` (other fields cleared) and waits for the view to restart. */
async function setFilters(page: Page, filters: Record<string, string>): Promise<void> {
  for (const name of ["namespace", "pod", "verdict", "protocol", "port", "text"]) {
    const el = page.locator(`#filters [name="${name}"]`);
    const value = filters[name] ?? "";
    if ((await el.evaluate((e) => e.tagName)) === "SELECT") await el.selectOption(value);
    else await el.fill(value);
  }
  // Filters apply 300 ms after the last change; then the stream restarts.
  await page.waitForTimeout(1000);
}

/** Waits until the table has at least `n` rows. */
function waitForRows(page: Page, n = 1): Promise<unknown> {
  return page.waitForFunction((min) => document.querySelectorAll("#flow-table tbody tr").length >= min, n);
}

function httpGet(url: string, headers: Record<string, string> = {}, readMs = 0): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      const finish = () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      res.on("end", finish);
      if (readMs) setTimeout(() => (req.destroy(), finish()), readMs);
    });
    req.on("error", reject);
  });
}

const edge = (from: string, to: string) => `${from}->${to}`;

describe("flowlens ui against a relay of real flows", () => {
  let page: Page;
  const frontendToCart = edge(`${shop}/frontend`, `${shop}/cart`);
  const cartToRedis = edge(`${shop}/cart`, `${data}/redis`);
  const frontendToPayment = edge(`${shop}/frontend`, `${payments}/payment`);

  beforeAll(async () => {
    const url = await startUi([]);
    page = await browser!.context.newPage();
    await page.goto(url);
  }, 60_000);

  afterAll(() => page?.close());

  test("the page draws the cluster-wide map, grouped by namespace, from the pods' traffic", async () => {
    await waitForEdges(page, [frontendToCart, cartToRedis, frontendToPayment], 60_000);
    // Let rates settle over a few seconds of live traffic before looking.
    await page.waitForTimeout(3000);
    const map = await mapState(page);
    expect(map.namespaces).toEqual(expect.arrayContaining([shop, data, payments]));
    expect(map.nodes).toEqual(expect.arrayContaining([`${shop}/frontend`, `${shop}/cart`, `${data}/redis`, `${payments}/payment`]));
    const byId = new Map(map.edges.map((e) => [e.id, e]));
    expect(byId.get(frontendToPayment)).toMatchObject({ dropping: true });
    expect(byId.get(frontendToPayment)!.label).toMatch(/dropped/);
    expect(byId.get(frontendToCart)).toMatchObject({ dropping: false });
    expect(byId.get(frontendToCart)!.label).toMatch(/[\d.]+ flows\/s · [\d.]+ (B|KiB)\/s/);
    expect(Number(await page.textContent("#stat-rate"))).toBeGreaterThan(0);
    expect(await page.textContent("#stat-nodes")).toBe("1/1");
    expect(await page.textContent("#relay-state")).toBe("relay connected");
    await page.locator("#fit").click();
    fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
  });

  test("filters change what the table and the map show", async () => {
    await setFilters(page, { namespace: data });
    await waitForRows(page);
    let rows = await tableRows(page);
    expect(rows.every((r) => r.text.includes(`${data}/`))).toBe(true);
    await waitForEdges(page, [cartToRedis]);
    let map = await mapState(page);
    expect(map.nodes).not.toContain(`${payments}/payment`);

    await setFilters(page, { verdict: "DROPPED" });
    await page.waitForFunction((ns) => Array.from(document.querySelectorAll("#flow-table tbody tr")).some((r) => r.textContent!.includes(ns)), `${payments}/`);
    rows = await tableRows(page);
    expect(rows.every((r) => r.text.includes("DROPPED") && !r.text.includes("FORWARDED"))).toBe(true);
    await waitForEdges(page, [frontendToPayment]);
    map = await mapState(page);
    expect(map.edges.find((e) => e.id === frontendToPayment)).toMatchObject({ dropping: true });

    await setFilters(page, { port: String(REDIS_PORT) });
    await waitForRows(page);
    rows = await tableRows(page);
    expect(rows.every((r) => r.text.includes(String(REDIS_PORT)))).toBe(true);
    expect(rows.some((r) => r.text.includes(String(CART_PORT)) && !r.text.includes(String(REDIS_PORT)))).toBe(false);

    await setFilters(page, { text: "payment-5f6d" });
    await waitForRows(page);
    rows = await tableRows(page);
    expect(rows.every((r) => r.text.includes("payment-5f6d"))).toBe(true);
  });

  test("pause holds the table still, and export writes exactly the flows it shows", async () => {
    await setFilters(page, { namespace: shop });
    await waitForRows(page, 5);
    await page.locator("#pause").click();
    const before = await tableRows(page);
    await page.waitForTimeout(1500);
    const rows = await tableRows(page);
    expect(rows).toEqual(before);

    const [download] = await Promise.all([page.waitForEvent("download"), page.locator("#export").click()]);
    const exported = JSON.parse(fs.readFileSync((await download.path())!, "utf8")) as { filters: object; flows: Flow[] };
    expect(exported.filters).toEqual({ namespace: shop });
    expect(exported.flows.map((f) => f.uuid)).toEqual(rows.map((r) => r.uuid));
    expect(exported.flows.every((f) => f.source?.namespace === shop || f.destination?.namespace === shop)).toBe(true);

    await page.locator("#pause").click();
    await page.waitForFunction((first) => document.querySelector("#flow-table tbody tr")?.getAttribute("data-uuid") !== first, rows[0].uuid, { timeout: 15_000 });
  });

  test("a past window is answered from the relay's history", async () => {
    await setFilters(page, {});
    const [history] = await Promise.all([
      page.waitForResponse((r) => r.url().includes("/api/history")),
      page.locator("#time-mode").selectOption("15m"),
    ]);
    expect(history.status()).toBe(200);
    const answer = await history.json();
    expect(answer.total).toBeGreaterThan(0);
    await page.waitForFunction(() => document.querySelector("#map-caption")!.textContent!.startsWith("History"));
    await waitForEdges(page, [frontendToCart, cartToRedis, frontendToPayment]);
    const rows = await tableRows(page);
    expect(rows.length).toBeGreaterThan(0);
    expect(await page.textContent("#relay-state")).toBe("history");
    await page.locator("#time-mode").selectOption("live");
    await page.waitForFunction(() => document.querySelector("#map-caption")!.textContent!.startsWith("Live"));
  });
});

describe("flowlens ui when things are unavailable", () => {
  test("the header says plainly that the relay is unavailable", async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, "127.0.0.1", () => {
        const port = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    const ui = await startFlowlens(["ui", "--relay", `127.0.0.1:${closedPort}`, "--listen-address", "127.0.0.1:0"], /serving (http:\/\/\S+)/);
    uis.push(ui);
    const page = await browser!.context.newPage();
    try {
      await page.goto(ui.match[1]);
      await page.waitForSelector("#banner:not([hidden])", { timeout: 15_000 });
      expect(await page.textContent("#banner")).toMatch(new RegExp(`relay is unavailable.*127\\.0\\.0\\.1:${closedPort}`));
      expect(await page.textContent("#relay-state")).toBe("relay unavailable");
    } finally {
      await page.close();
    }
  });
});

describe("flowlens ui sign-in and namespace allow-list", () => {
  test("listening beyond localhost without sign-in is refused at start", async () => {
    const r = await runFlowlens(["ui", "--listen-address", "0.0.0.0:0", "--relay", cluster.relayAddress]);
    expect(r.code).toBe(2);
    expect(r.output).toMatch(/sign-in is required: add --auth-token-file or --iap-audience/);
  });

  test("with a token configured, nothing is served until the token is presented", async () => {
    const tokenFile = path.join(tmpDir, "token");
    fs.writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    const url = await startUi(["--auth-token-file", tokenFile]);

    expect((await httpGet(`${url}api/stream`)).status).toBe(401);
    expect((await httpGet(`${url}assets/app.js`)).status).toBe(401);
    expect((await httpGet(`${url}api/config`, { authorization: "Bearer wrong-token-wrong-token" })).status).toBe(401);
    const page = await httpGet(url, { accept: "text/html" });
    expect(page.status).toBe(303);
    expect(page.headers.location).toBe("/login");
    expect((await httpGet(`${url}api/config`, { authorization: `Bearer ${TOKEN}` })).status).toBe(200);

    const tab = await browser!.context.newPage();
    try {
      await tab.goto(url);
      expect(new URL(tab.url()).pathname).toBe("/login");
      await tab.fill("input[name=token]", "not-the-token");
      await tab.click("button[type=submit]");
      await tab.waitForSelector(".login-error");
      await tab.fill("input[name=token]", TOKEN);
      await tab.click("button[type=submit]");
      await tab.waitForURL(url);
      await waitForEdges(tab, [edge(`${shop}/frontend`, `${shop}/cart`)]);
    } finally {
      await tab.close();
    }
  });

  test("behind the identity-aware proxy, only a JWT for this audience signed by a listed key gets in", async () => {
    const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
    const keysFile = path.join(tmpDir, "iap-keys.json");
    fs.writeFileSync(keysFile, JSON.stringify({ keys: [{ ...publicKey.export({ format: "jwk" }), kid: "test-key", alg: "ES256" }] }));
    const audience = "/projects/123/global/backendServices/456";
    const url = await startUi(["--iap-audience", audience, "--iap-keys-file", keysFile]);
    const now = Math.floor(Date.now() / 1000);
    const jwt = (aud: string) => {
      const head = Buffer.from(JSON.stringify({ alg: "ES256", kid: "test-key" })).toString("base64url");
      const body = Buffer.from(JSON.stringify({ aud, iss: "https://cloud.google.com/iap", iat: now, exp: now + 600, email: "ops@example.com" })).toString("base64url");
      const sig = crypto.sign("sha256", Buffer.from(`${head}.${body}`), { key: privateKey, dsaEncoding: "ieee-p1363" }).toString("base64url");
      return `${head}.${body}.${sig}`;
    };
    expect((await httpGet(`${url}api/config`)).status).toBe(401);
    const wrong = await httpGet(`${url}api/config`, { "x-goog-iap-jwt-assertion": jwt("/projects/123/global/backendServices/999") });
    expect(wrong.status).toBe(401);
    expect(JSON.parse(wrong.body).error).toMatch(/audience/);
    const right = await httpGet(`${url}api/config`, { "x-goog-iap-jwt-assertion": jwt(audience) });
    expect(right.status).toBe(200);
    expect(JSON.parse(right.body).user).toBe("ops@example.com");
  });

  test("a namespace allow-list keeps other namespaces' workloads and flows off the page and the wire", async () => {
    const url = await startUi(["--namespace-allow", data]);
    const tab = await browser!.context.newPage();
    try {
      await tab.goto(url);
      await tab.waitForFunction(() => document.querySelectorAll("#flow-table tbody tr").length > 3);
      await tab.waitForFunction((ns) => (window as any).__flowlens.mapView.cy.getElementById(`${ns}/redis`).nonempty(), data);
      const map = await mapState(tab);
      expect(map.nodes.every((id) => id.startsWith(`${data}/`) || id.startsWith("(not permitted)/"))).toBe(true);
      const rows = await tableRows(tab);
      expect(rows.every((r) => !r.text.includes(shop) && !r.text.includes(payments))).toBe(true);
      const options = await tab.$$eval("#filters [name=namespace] option", (os) => os.map((o) => (o as HTMLOptionElement).value));
      expect(options).toEqual(["", data]);
    } finally {
      await tab.close();
    }
    const stream = await httpGet(`${url}api/stream`, {}, 2500);
    expect(stream.body).toContain(`${data}`);
    for (const hidden of [shop, payments, "frontend-6d8f", "cart-7b9c", "198.18.5.10", "198.18.5.11"]) expect(stream.body).not.toContain(hidden);
    const since = new Date(Date.now() - 15 * 60_000).toISOString();
    const history = await httpGet(`${url}api/history?since=${since}&until=${new Date().toISOString()}`);
    expect(history.status).toBe(200);
    expect(JSON.parse(history.body).total).toBeGreaterThan(0);
    for (const hidden of [shop, payments, "198.18.5.11"]) expect(history.body).not.toContain(hidden);
  });
});
