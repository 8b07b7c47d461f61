// Online Boutique's topology as the lab replicates it: service names, ports,
// protocols and call graph follow GoogleCloudPlatform/microservices-demo;
// the processes behind them are the lab's own small replicas.
import { LabError } from "./errors";

export type Protocol = "http" | "grpc" | "redis";

export interface ServiceSpec {
  /** Kubernetes Service and Deployment name, as in microservices-demo. */
  name: string;
  protocol: Protocol;
  /** The Service port clients dial. */
  port: number;
  /** The container port the pod listens on. */
  targetPort: number;
  /** Services this one calls. */
  calls: string[];
  /** Lab node the pod is placed on (index into the node list). */
  node: number;
}

export const NAMESPACE = "boutique";

export const SERVICES: readonly ServiceSpec[] = [
  { name: "frontend", protocol: "http", port: 80, targetPort: 8080, node: 0,
    calls: ["adservice", "cartservice", "checkoutservice", "currencyservice", "productcatalogservice", "recommendationservice", "shippingservice"] },
  { name: "checkoutservice", protocol: "grpc", port: 5050, targetPort: 5050, node: 1,
    calls: ["cartservice", "currencyservice", "emailservice", "paymentservice", "productcatalogservice", "shippingservice"] },
  { name: "recommendationservice", protocol: "grpc", port: 8080, targetPort: 8080, node: 1, calls: ["productcatalogservice"] },
  { name: "cartservice", protocol: "grpc", port: 7070, targetPort: 7070, node: 0, calls: ["redis-cart"] },
  { name: "productcatalogservice", protocol: "grpc", port: 3550, targetPort: 3550, node: 0, calls: [] },
  { name: "currencyservice", protocol: "grpc", port: 7000, targetPort: 7000, node: 0, calls: [] },
  { name: "paymentservice", protocol: "grpc", port: 50051, targetPort: 50051, node: 1, calls: [] },
  { name: "shippingservice", protocol: "grpc", port: 50051, targetPort: 50051, node: 1, calls: [] },
  { name: "emailservice", protocol: "grpc", port: 5000, targetPort: 8080, node: 1, calls: [] },
  { name: "adservice", protocol: "grpc", port: 9555, targetPort: 9555, node: 1, calls: [] },
  { name: "redis-cart", protocol: "redis", port: 6379, targetPort: 6379, node: 0, calls: [] },
];

/** The load generator is a Deployment without a Service; it drives the frontend. */
export const LOADGENERATOR = { name: "loadgenerator", node: 0, calls: ["frontend"] } as const;

/** Environment variable through which a replica learns where a service is, as in the real manifests. */
const ADDRESS_VARIABLES: Record<string, string> = {
  frontend: "FRONTEND_ADDR",
  checkoutservice: "CHECKOUT_SERVICE_ADDR",
  recommendationservice: "RECOMMENDATION_SERVICE_ADDR",
  cartservice: "CART_SERVICE_ADDR",
  productcatalogservice: "PRODUCT_CATALOG_SERVICE_ADDR",
  currencyservice: "CURRENCY_SERVICE_ADDR",
  paymentservice: "PAYMENT_SERVICE_ADDR",
  shippingservice: "SHIPPING_SERVICE_ADDR",
  emailservice: "EMAIL_SERVICE_ADDR",
  adservice: "AD_SERVICE_ADDR",
  "redis-cart": "REDIS_ADDR",
};

export function addressVariable(service: string): string {
  const name = ADDRESS_VARIABLES[service];
  if (!name) throw new LabError(`unknown lab service "${service}"`);
  return name;
}
