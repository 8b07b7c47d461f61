// The gRPC services behind the frontend, each doing what its Online Boutique
// counterpart does (same calls to the same peers), with trivial business logic.
import { randomUUID } from "node:crypto";
import { PRODUCTS, EUR_RATES, convert, productById, type Money } from "./catalog";
import { RedisConnection } from "./redis";
import { addressOf, client, serve } from "./rpc";

type Starter = (port: number) => Promise<unknown>;

function sum(a: Money, b: Money): Money {
  const nanos = a.nanos + b.nanos;
  return { currency_code: a.currency_code, units: Number(a.units) + Number(b.units) + Math.floor(nanos / 1e9), nanos: nanos % 1e9 };
}

function times(m: Money, n: number): Money {
  const total = (Number(m.units) + m.nanos / 1e9) * n;
  const units = Math.floor(total);
  return { currency_code: m.currency_code, units, nanos: Math.round((total - units) * 1e9) };
}

function renderConfirmation(email: string, order: { order_id: string; items: unknown[] }): string {
  return `<h2>Your Order Confirmation</h2><p>Order ${order.order_id} for ${email}</p><pre>${JSON.stringify(order.items, null, 2)}</pre>`;
}

const ADS = [
  { redirect_url: "/product/2ZYFJ3GM2N", text: "Hairdryer for sale. 50% off." },
  { redirect_url: "/product/66VCHSJNUP", text: "Tank top for sale. 20% off." },
  { redirect_url: "/product/0PUK6V6EV0", text: "Candle holder for sale. 30% off." },
  { redirect_url: "/product/9SIQT8TOJO", text: "Bamboo glass jar for sale. 10% off." },
  { redirect_url: "/product/1YMWWN1N4O", text: "Watch for sale. Buy one, get second kit for free." },
  { redirect_url: "/product/6E92ZMYYFZ", text: "Mug for sale. Buy two, get third one for free." },
  { redirect_url: "/product/L9ECAV7KIM", text: "Loafers for sale. Buy one, get second one for free." },
];

export const STARTERS: Record<string, Starter> = {
  productcatalogservice: (port) =>
    serve("ProductCatalogService", port, {
      ListProducts: () => ({ products: PRODUCTS }),
      GetProduct: (req: { id: string }) => productById(req.id),
    }),

  currencyservice: (port) =>
    serve("CurrencyService", port, {
      GetSupportedCurrencies: () => ({ currency_codes: Object.keys(EUR_RATES) }),
      Convert: (req: { from: Money; to_code: string }) => convert(req.from, req.to_code),
    }),

  paymentservice: (port) =>
    serve("PaymentService", port, {
      Charge: (req: { credit_card: { credit_card_number: string } }) => {
        if (!/^\d{12,19}$/.test(req.credit_card.credit_card_number.replace(/-/g, ""))) throw new Error("invalid credit card number");
        return { transaction_id: randomUUID() };
      },
    }),

  shippingservice: (port) =>
    serve("ShippingService", port, {
      GetQuote: (req: { items: { quantity: number }[] }) => {
        const count = req.items.reduce((n, i) => n + i.quantity, 0);
        return { cost_usd: { currency_code: "USD", units: count === 0 ? 0 : 8, nanos: count === 0 ? 0 : 990000000 } };
      },
      ShipOrder: () => ({ tracking_id: randomUUID().slice(0, 18).toUpperCase() }),
    }),

  emailservice: (port) =>
    serve("EmailService", port, {
      // The real service renders a Jinja template and only logs the mail; rendering keeps the CPU work alike.
      SendOrderConfirmation: (req: { email: string; order: { order_id: string; items: unknown[] } }) => {
        renderConfirmation(req.email, req.order);
        return {};
      },
    }),

  adservice: (port) =>
    serve("AdService", port, {
      GetAds: (req: { context_keys: string[] }) => {
        const pool = req.context_keys.length > 0 ? ADS.filter((ad) => req.context_keys.some((k) => ad.text.toLowerCase().includes(k))) : [];
        const source = pool.length > 0 ? pool : ADS;
        return { ads: [source[Math.floor(Math.random() * source.length)]] };
      },
    }),

  recommendationservice: (port) => {
    const catalog = client("ProductCatalogService", addressOf("PRODUCT_CATALOG_SERVICE_ADDR"));
    return serve("RecommendationService", port, {
      ListRecommendations: async (req: { product_ids: string[] }) => {
        const { products } = await catalog.ListProducts({});
        const candidates = (products as { id: string }[]).map((p) => p.id).filter((id) => !req.product_ids.includes(id));
        const picked: string[] = [];
        while (picked.length < 5 && candidates.length > 0) picked.push(candidates.splice(Math.floor(Math.random() * candidates.length), 1)[0]);
        return { product_ids: picked };
      },
    });
  },

  cartservice: (port) => {
    const [host, redisPort] = addressOf("REDIS_ADDR").split(":");
    const redis = new RedisConnection(host, Number(redisPort));
    return serve("CartService", port, {
      AddItem: async (req: { user_id: string; item: { product_id: string; quantity: number } }) => {
        await redis.command("HINCRBY", `cart:${req.user_id}`, req.item.product_id, String(req.item.quantity));
        return {};
      },
      GetCart: async (req: { user_id: string }) => {
        const flat = (await redis.command("HGETALL", `cart:${req.user_id}`)) as string[];
        const items = [];
        for (let i = 0; i < flat.length; i += 2) items.push({ product_id: flat[i], quantity: Number(flat[i + 1]) });
        return { user_id: req.user_id, items };
      },
      EmptyCart: async (req: { user_id: string }) => {
        await redis.command("DEL", `cart:${req.user_id}`);
        return {};
      },
    });
  },

  checkoutservice: (port) => {
    const cart = client("CartService", addressOf("CART_SERVICE_ADDR"));
    const catalog = client("ProductCatalogService", addressOf("PRODUCT_CATALOG_SERVICE_ADDR"));
    const currency = client("CurrencyService", addressOf("CURRENCY_SERVICE_ADDR"));
    const shipping = client("ShippingService", addressOf("SHIPPING_SERVICE_ADDR"));
    const payment = client("PaymentService", addressOf("PAYMENT_SERVICE_ADDR"));
    const email = client("EmailService", addressOf("EMAIL_SERVICE_ADDR"));
    return serve("CheckoutService", port, {
      PlaceOrder: async (req: { user_id: string; user_currency: string; address: object; email: string; credit_card: object }) => {
        const { items } = (await cart.GetCart({ user_id: req.user_id })) as { items: { product_id: string; quantity: number }[] };
        const priced = await Promise.all(
          items.map(async (item) => {
            const product = await catalog.GetProduct({ id: item.product_id });
            const cost = await currency.Convert({ from: product.price_usd, to_code: req.user_currency });
            return { item, cost: times(cost, item.quantity) };
          }),
        );
        const quote = await shipping.GetQuote({ address: req.address, items });
        const shippingCost = await currency.Convert({ from: quote.cost_usd, to_code: req.user_currency });
        const total = priced.reduce((acc, p) => sum(acc, p.cost), shippingCost as Money);
        await payment.Charge({ amount: total, credit_card: req.credit_card });
        const shipped = await shipping.ShipOrder({ address: req.address, items });
        await cart.EmptyCart({ user_id: req.user_id });
        const order = {
          order_id: randomUUID(),
          shipping_tracking_id: shipped.tracking_id,
          shipping_cost: shippingCost,
          shipping_address: req.address,
          items: priced,
        };
        await email.SendOrderConfirmation({ email: req.email, order });
        return { order };
      },
    });
  },
};
