// gRPC plumbing for the replica services: one proto, promise-based unary clients.
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { onReset } from "./connections";

const PROTO = path.join(__dirname, "boutique.proto");

let pkg: grpc.GrpcObject | undefined;
function boutique(): grpc.GrpcObject {
  if (!pkg) {
    const def = protoLoader.loadSync(PROTO, { keepCase: true, longs: Number, enums: String, defaults: true });
    pkg = (grpc.loadPackageDefinition(def) as any).boutique as grpc.GrpcObject;
  }
  return pkg;
}

export type Handlers = Record<string, (request: any) => Promise<unknown> | unknown>;

/** Serves `handlers` as gRPC service `serviceName` on 0.0.0.0:port. */
export async function serve(serviceName: string, port: number, handlers: Handlers): Promise<grpc.Server> {
  const ctor = boutique()[serviceName] as grpc.ServiceClientConstructor;
  const server = new grpc.Server();
  const impl: grpc.UntypedServiceImplementation = {};
  for (const [method, fn] of Object.entries(handlers)) {
    impl[method] = (call: grpc.ServerUnaryCall<any, any>, done: grpc.sendUnaryData<any>) => {
      Promise.resolve()
        .then(() => fn(call.request))
        .then((reply) => done(null, reply), (err: Error) => done({ code: grpc.status.INTERNAL, message: err.message }));
    };
  }
  server.addService(ctor.service, impl);
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`0.0.0.0:${port}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
  );
  return server;
}

export type UnaryClient = Record<string, (request: object) => Promise<any>>;

/**
 * A client of `serviceName` at `address` whose methods return promises. Its
 * channel is replaced when connections are reset; calls already under way
 * finish on the old one, which closes once they have.
 */
export function client(serviceName: string, address: string): UnaryClient {
  const ctor = boutique()[serviceName] as grpc.ServiceClientConstructor;
  // A channel of its own (not the process-wide subchannel pool), so closing it closes its connection.
  const open = () => new ctor(address, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 }) as any;
  let raw = open();
  onReset(() => {
    raw.close();
    raw = open();
  });
  const wrapped: UnaryClient = {};
  for (const method of Object.keys(ctor.service)) {
    wrapped[method] = (request) =>
      new Promise((resolve, reject) =>
        raw[method](request, { deadline: Date.now() + 10_000 }, (err: Error | null, reply: unknown) => (err ? reject(err) : resolve(reply))),
      );
  }
  return wrapped;
}

/** The address of `service` from its `*_ADDR` variable, or a clear error. */
export function addressOf(variable: string): string {
  const value = process.env[variable];
  if (!value) throw new Error(`replica: ${variable} is not set; the lab sets it to the service's host:port`);
  return value;
}
