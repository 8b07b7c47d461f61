// The product catalog and exchange rates the replicas serve: the same nine
// products as Online Boutique, with descriptions long enough that list
// responses have the real app's payload sizes (a few kB).

export interface Money { currency_code: string; units: number; nanos: number }
export interface Product { id: string; name: string; description: string; picture: string; price_usd: Money; categories: string[] }

const ITEMS: [string, string, number, number, string[]][] = [
  ["OLJCESPC7Z", "Sunglasses", 19, 990000000, ["accessories"]],
  ["66VCHSJNUP", "Tank Top", 18, 990000000, ["clothing", "tops"]],
  ["1YMWWN1N4O", "Watch", 109, 990000000, ["accessories"]],
  ["L9ECAV7KIM", "Loafers", 89, 990000000, ["footwear"]],
  ["2ZYFJ3GM2N", "Hairdryer", 24, 990000000, ["hair", "beauty"]],
  ["0PUK6V6EV0", "Candle Holder", 18, 990000000, ["decor", "home"]],
  ["LS4PSXUNUM", "Salt & Pepper Shakers", 18, 490000000, ["kitchen"]],
  ["9SIQT8TOJO", "Bamboo Glass Jar", 5, 490000000, ["kitchen"]],
  ["6E92ZMYYFZ", "Mug", 8, 990000000, ["kitchen"]],
];

const FILLER =
  "Made to last and made to be used every day, this piece pairs a simple shape with careful finishing. " +
  "It arrives in recycled packaging and ships from a warehouse close to you. ";

export const PRODUCTS: Product[] = ITEMS.map(([id, name, units, nanos, categories]) => ({
  id,
  name,
  description: `${name}. ${FILLER.repeat(2)}`,
  picture: `/static/img/products/${name.toLowerCase().replace(/[^a-z]+/g, "-")}.jpg`,
  price_usd: { currency_code: "USD", units, nanos },
  categories,
}));

/** Euro-based rates, as in currencyservice's currency_conversion.json (subset). */
export const EUR_RATES: Record<string, number> = {
  EUR: 1, USD: 1.1305, JPY: 126.4, GBP: 0.85970, TRY: 6.1247, CAD: 1.5128, CHF: 1.1360, AUD: 1.6065,
  SEK: 10.5293, NOK: 9.7605, DKK: 7.4623, PLN: 4.2904, CZK: 25.716, HUF: 324.36, NZD: 1.6933, MXN: 21.6549,
};

export function convert(from: Money, to: string): Money {
  const rateFrom = EUR_RATES[from.currency_code];
  const rateTo = EUR_RATES[to];
  if (rateFrom === undefined || rateTo === undefined) throw new Error(`unsupported currency ${from.currency_code} -> ${to}`);
  const value = ((Number(from.units) + from.nanos / 1e9) / rateFrom) * rateTo;
  const units = Math.floor(value);
  return { currency_code: to, units, nanos: Math.round((value - units) * 1e9) };
}

export function productById(id: string): Product {
  const p = PRODUCTS.find((x) => x.id === id);
  if (!p) throw new Error(`no product with id "${id}"`);
  return p;
}
