// The frontend: HTTP pages whose backend fan-out matches Online Boutique's
// handlers (home, product, cart, checkout, currency), rendered as HTML of a
// similar size.
import * as http from "node:http";
import { PRODUCTS, type Money, type Product } from "./catalog";
import { addressOf, client } from "./rpc";

const ad = () => client("AdService", addressOf("AD_SERVICE_ADDR"));
const cartC = () => client("CartService", addressOf("CART_SERVICE_ADDR"));
const checkoutC = () => client("CheckoutService", addressOf("CHECKOUT_SERVICE_ADDR"));
const currencyC = () => client("CurrencyService", addressOf("CURRENCY_SERVICE_ADDR"));
const catalogC = () => client("ProductCatalogService", addressOf("PRODUCT_CATALOG_SERVICE_ADDR"));
const recommendationC = () => client("RecommendationService", addressOf("RECOMMENDATION_SERVICE_ADDR"));
const shippingC = () => client("ShippingService", addressOf("SHIPPING_SERVICE_ADDR"));

const ADDRESS = { street_address: "1600 Amphitheatre Parkway", city: "Mountain View", state: "CA", country: "United States", zip_code: 94043 };
const CARD = { credit_card_number: "4432-8015-6152-0454", credit_card_cvv: 672, credit_card_expiration_year: 2039, credit_card_expiration_month: 1 };

function cookies(req: http.IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [k, v] = part.trim().split("=");
    if (k && v) out[k] = decodeURIComponent(v);
  }
  return out;
}

function readForm(req: http.IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (body += c));
    req.on("end", () => resolve(new URLSearchParams(body)));
    req.on("error", reject);
  });
}

const money = (m: Money) => `${m.currency_code} ${m.units}.${String(Math.floor(m.nanos / 1e7)).padStart(2, "0")}`;

function page(title: string, currencies: string[], body: string): string {
  const options = currencies.map((c) => `<option value="${c}">${c}</option>`).join("");
  const chrome = `<header class="navbar"><a href="/">Online Boutique</a><form method="POST" action="/setCurrency"><select name="currency_code">${options}</select></form><a href="/cart">Cart</a></header>`;
  const footer = `<footer class="py-5"><div class="footer-top"><p>This website is hosted for demo purposes only.</p></div></footer>`;
  return `<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8"><title>${title} | Online Boutique</title>` +
    `<link rel="stylesheet" href="/static/styles/styles.css"></head><body>${chrome}<main role="main">${body}</main>${footer}</body></html>`;
}

function productCard(p: Product, price: Money): string {
  return `<div class="col-md-4 hot-product-card"><a href="/product/${p.id}"><img alt="${p.name}" src="${p.picture}">` +
    `<div class="hot-product-card-img-overlay"></div></a><div><div class="hot-product-card-name">${p.name}</div>` +
    `<div class="hot-product-card-price">${money(price)}</div><p class="description">${p.description}</p></div></div>`;
}

export async function startFrontend(port: number): Promise<http.Server> {
  const [adS, cart, checkout, currency, catalog, recommendation, shipping] = [ad(), cartC(), checkoutC(), currencyC(), catalogC(), recommendationC(), shippingC()];

  async function home(user: string, cur: string): Promise<string> {
    const [{ currency_codes }, { products }, _cart, ads] = await Promise.all([
      currency.GetSupportedCurrencies({}),
      catalog.ListProducts({}),
      cart.GetCart({ user_id: user }),
      adS.GetAds({ context_keys: [] }),
    ]);
    const prices = await Promise.all((products as Product[]).map((p) => currency.Convert({ from: p.price_usd, to_code: cur })));
    const cards = (products as Product[]).map((p, i) => productCard(p, prices[i])).join("");
    return page("Home", currency_codes, `<div class="row hot-products-row">${cards}</div><div class="ad">${ads.ads[0]?.text ?? ""}</div>`);
  }

  async function product(user: string, cur: string, id: string): Promise<string> {
    const p = (await catalog.GetProduct({ id })) as Product;
    const [{ currency_codes }, _cart, price, recs, ads] = await Promise.all([
      currency.GetSupportedCurrencies({}),
      cart.GetCart({ user_id: user }),
      currency.Convert({ from: p.price_usd, to_code: cur }),
      recommendation.ListRecommendations({ user_id: user, product_ids: [id] }),
      adS.GetAds({ context_keys: p.categories }),
    ]);
    const recHtml = (recs.product_ids as string[]).map((r) => `<a href="/product/${r}">${PRODUCTS.find((x) => x.id === r)?.name ?? r}</a>`).join("");
    return page(p.name, currency_codes, `${productCard(p, price)}<section class="recommendations">${recHtml}</section><div class="ad">${ads.ads[0]?.text ?? ""}</div>`);
  }

  async function viewCart(user: string, cur: string): Promise<string> {
    const [{ currency_codes }, c] = await Promise.all([currency.GetSupportedCurrencies({}), cart.GetCart({ user_id: user })]);
    const items = c.items as { product_id: string; quantity: number }[];
    const [recs, quote] = await Promise.all([
      recommendation.ListRecommendations({ user_id: user, product_ids: items.map((i) => i.product_id) }),
      shipping.GetQuote({ address: ADDRESS, items }),
    ]);
    const shippingCost = await currency.Convert({ from: quote.cost_usd, to_code: cur });
    const lines = await Promise.all(
      items.map(async (i) => {
        const p = (await catalog.GetProduct({ id: i.product_id })) as Product;
        const price = await currency.Convert({ from: p.price_usd, to_code: cur });
        return `<div class="cart-summary-item-row"><strong>${p.name}</strong> x${i.quantity} ${money(price)}</div>`;
      }),
    );
    return page("Cart", currency_codes, `${lines.join("")}<div>Shipping ${money(shippingCost)}</div><section>${(recs.product_ids as string[]).join(" ")}</section>`);
  }

  async function placeOrder(user: string, cur: string): Promise<string> {
    const { order } = await checkout.PlaceOrder({ user_id: user, user_currency: cur, address: ADDRESS, email: "someone@example.com", credit_card: CARD });
    const [recs, { currency_codes }] = await Promise.all([
      recommendation.ListRecommendations({ user_id: user, product_ids: [] }),
      currency.GetSupportedCurrencies({}),
    ]);
    return page("Order", currency_codes, `<h3>Your order is complete!</h3><p>Confirmation # ${order.order_id}</p><p>Tracking # ${order.shipping_tracking_id}</p><section>${(recs.product_ids as string[]).join(" ")}</section>`);
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const jar = cookies(req);
    const user = jar["shop_session-id"] ?? "anonymous";
    const cur = jar["shop_currency"] ?? "USD";
    const url = new URL(req.url ?? "/", "http://frontend");
    const send = (status: number, html: string, headers: http.OutgoingHttpHeaders = {}) => {
      res.writeHead(status, { "content-type": "text/html; charset=utf-8", ...headers });
      res.end(html);
    };
    if (req.method === "GET" && url.pathname === "/_healthz") return send(200, "ok");
    if (req.method === "GET" && url.pathname === "/") return send(200, await home(user, cur));
    if (req.method === "GET" && url.pathname.startsWith("/product/")) return send(200, await product(user, cur, url.pathname.slice(9)));
    if (req.method === "GET" && url.pathname === "/cart") return send(200, await viewCart(user, cur));
    if (req.method === "POST" && url.pathname === "/cart") {
      const form = await readForm(req);
      const id = form.get("product_id") ?? "";
      await catalog.GetProduct({ id });
      await cart.AddItem({ user_id: user, item: { product_id: id, quantity: Number(form.get("quantity") ?? 1) } });
      return send(302, "", { location: "/cart" });
    }
    if (req.method === "POST" && url.pathname === "/cart/checkout") return send(200, await placeOrder(user, cur));
    if (req.method === "POST" && url.pathname === "/setCurrency") {
      const form = await readForm(req);
      return send(302, "", { location: "/", "set-cookie": `shop_currency=${form.get("currency_code") ?? "USD"}` });
    }
    send(404, page("Not found", [], `<p>${url.pathname} not found</p>`));
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end(`frontend: ${err.message}\n`);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(port, "0.0.0.0", resolve));
  return server;
}
