// The UI's HTTP surface: the page and its assets, the live stream (SSE), the
// history query, and the token sign-in form. Every route except /healthz
// passes the authenticator first.
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import type { Flow, FlowFilter, Verdict } from "../../proto/types";
import { matchesQuery, queryFromParams, type FlowQuery } from "../shared/flow-view";
import type { HistoryAnswer } from "../shared/wire";
import { SESSION_COOKIE, type Authenticator } from "./auth";
import type { FlowHub } from "./flow-hub";
import { LiveSession } from "./live-session";
import type { NamespaceAccess } from "./namespace-access";
import type { RelayConnection } from "./relay-client";
import { mapOfWindow } from "./service-map";

const WEB_DIR = path.join(__dirname, "..", "web");
const DIST_DIR = path.join(__dirname, "..", "dist");
/** Flows a history query reads from the relay at most. */
const HISTORY_LIMIT = 200_000;
/** Flows of a history answer that go to the table. */
const HISTORY_TABLE_ROWS = 2000;
const MAX_WINDOW_MS = 7 * 24 * 3600 * 1000;

const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

interface Asset {
  body: Buffer;
  type: string;
}

function loadAssets(): Map<string, Asset> {
  const files: Array<[string, string, string]> = [
    ["/", path.join(WEB_DIR, "index.html"), "text/html; charset=utf-8"],
    ["/assets/app.js", path.join(DIST_DIR, "app.js"), "text/javascript; charset=utf-8"],
    ["/assets/styles.css", path.join(DIST_DIR, "styles.css"), "text/css; charset=utf-8"],
    ["/assets/elk-worker.js", path.join(DIST_DIR, "elk-worker.js"), "text/javascript; charset=utf-8"],
    ["/login", path.join(WEB_DIR, "login.html"), "text/html; charset=utf-8"],
  ];
  const assets = new Map<string, Asset>();
  for (const [route, file, type] of files) {
    if (!fs.existsSync(file)) throw new Error(`UI asset ${file} is missing: build the page with "make build" (or "tsx ui/build.ts")`);
    assets.set(route, { body: fs.readFileSync(file), type });
  }
  return assets;
}

export interface UiServerDeps {
  auth: Authenticator;
  hub: FlowHub;
  relay: RelayConnection;
  access: NamespaceAccess;
}

export function createUiServer(deps: UiServerDeps): http.Server {
  const assets = loadAssets();
  const sessions = new Set<LiveSession>();
  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      if (!res.headersSent) sendJson(res, 500, { error: err.message });
      else res.end();
    });
  });
  server.on("close", () => sessions.forEach((s) => s.close()));

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://ui.invalid");
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    if (url.pathname === "/healthz") return sendText(res, 200, "ok\n");
    if (url.pathname === "/login" && deps.auth.kind === "token") return login(req, url, res);
    // The stylesheet holds nothing private and styles the sign-in form.
    if (url.pathname === "/assets/styles.css") return sendAsset(res, assets.get(url.pathname)!);

    const who = deps.auth.check(req);
    if (!who.ok) {
      const wantsPage = req.method === "GET" && !url.pathname.startsWith("/api/") && (req.headers.accept ?? "").includes("text/html");
      if (wantsPage && deps.auth.kind === "token") {
        res.writeHead(303, { location: "/login" });
        return void res.end();
      }
      res.setHeader("www-authenticate", deps.auth.kind === "token" ? 'Bearer realm="flowlens"' : 'IAP realm="flowlens"');
      return sendJson(res, 401, { error: who.reason });
    }
    if (req.method !== "GET") return sendJson(res, 405, { error: `${req.method} is not allowed on ${url.pathname}` });

    const asset = assets.get(url.pathname);
    if (asset && url.pathname !== "/login") return sendAsset(res, asset);
    switch (url.pathname) {
      case "/api/config":
        return sendJson(res, 200, { user: who.user, namespaces: deps.access.list(), auth: deps.auth.kind });
      case "/api/stream": {
        const query = queryFromParams(url.searchParams);
        if (typeof query === "string") return sendJson(res, 400, { error: query });
        const session = new LiveSession(res, deps.hub, query);
        sessions.add(session);
        res.on("close", () => sessions.delete(session));
        return;
      }
      case "/api/history":
        return history(url, res);
      default:
        return sendJson(res, 404, { error: `no such page: ${url.pathname}` });
    }
  }

  async function history(url: URL, res: http.ServerResponse): Promise<void> {
    const query = queryFromParams(url.searchParams);
    if (typeof query === "string") return sendJson(res, 400, { error: query });
    const since = Date.parse(url.searchParams.get("since") ?? "");
    const until = Date.parse(url.searchParams.get("until") ?? "");
    if (Number.isNaN(since) || Number.isNaN(until)) {
      return sendJson(res, 400, { error: "since and until must be ISO 8601 times, e.g. since=2026-01-01T10:00:00Z" });
    }
    if (until <= since) return sendJson(res, 400, { error: "until must be after since" });
    if (until - since > MAX_WINDOW_MS) return sendJson(res, 400, { error: "the window is longer than 7 days; pick a shorter one" });

    const matched: Flow[] = [];
    let total = 0;
    try {
      await deps.relay.queryWindow(since, until, deps.access.relayWhitelist(relayFilterFor(query)), HISTORY_LIMIT, (raw) => {
        const flow = deps.access.visible(raw);
        if (!flow || !matchesQuery(flow, query)) return;
        total++;
        matched.push(flow);
      });
    } catch (err) {
      return sendJson(res, 502, { error: (err as Error).message });
    }
    const answer: HistoryAnswer = {
      since: new Date(since).toISOString(),
      until: new Date(until).toISOString(),
      map: mapOfWindow(matched, since, until),
      flows: matched.slice(-HISTORY_TABLE_ROWS),
      total,
    };
    sendJson(res, 200, answer);
  }

  function login(req: http.IncomingMessage, url: URL, res: http.ServerResponse): void {
    if (req.method === "GET") {
      const page = assets.get("/login")!;
      const status = url.searchParams.has("failed") ? '<p class="login-error" role="alert">That token is not valid.</p>' : "";
      res.writeHead(200, { "content-type": page.type, "cache-control": "no-store" });
      return void res.end(page.body.toString("utf8").replace("<!--status-->", status));
    }
    if (req.method !== "POST") return sendJson(res, 405, { error: "use GET or POST on /login" });
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      body += chunk;
      if (body.length > 4096) req.destroy();
    });
    req.on("end", () => {
      const token = new URLSearchParams(body).get("token") ?? "";
      const session = deps.auth.sessionFor?.(token);
      if (!session) {
        res.writeHead(303, { location: "/login?failed=1" });
        return void res.end();
      }
      res.writeHead(303, {
        location: "/",
        "set-cookie": `${SESSION_COOKIE}=${session}; HttpOnly; SameSite=Strict; Path=/`,
      });
      res.end();
    });
  }

  return server;
}

/** The parts of a query the relay can filter itself; the rest is matched here. */
function relayFilterFor(q: FlowQuery): FlowFilter {
  const filter: FlowFilter = {};
  if (q.verdict) filter.verdict = [q.verdict as Verdict];
  if (q.protocol) filter.protocol = [q.protocol.toLowerCase()];
  return filter;
}

function sendJson(res: http.ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
}

function sendAsset(res: http.ServerResponse, asset: Asset): void {
  res.writeHead(200, { "content-type": asset.type, "cache-control": "no-cache" });
  res.end(asset.body);
}

function sendText(res: http.ServerResponse, code: number, body: string): void {
  res.writeHead(code, { "content-type": "text/plain; charset=utf-8" });
  res.end(body);
}
