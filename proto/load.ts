// Loads Flowlens' Hubble-compatible protos for @grpc/grpc-js. Every component
// uses these options, so objects on the wire and in code look the same:
// snake_case field names, enums as strings, 64-bit integers as numbers.
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

export const PROTO_DIR = __dirname;

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: false,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

let cached: grpc.GrpcObject | undefined;

/** The loaded `observer`, `flow` and `relay` packages. */
export function loadObserverPackage(): grpc.GrpcObject {
  if (!cached) {
    const def = protoLoader.loadSync(path.join(PROTO_DIR, "observer/observer.proto"), LOADER_OPTIONS);
    cached = grpc.loadPackageDefinition(def);
  }
  return cached;
}

/** The Observer service definition, for `server.addService`. */
export function observerService(): grpc.ServiceDefinition {
  const pkg = loadObserverPackage() as any;
  return pkg.observer.Observer.service as grpc.ServiceDefinition;
}

/** A client constructor for the Observer service. */
export function observerClientConstructor(): grpc.ServiceClientConstructor {
  const pkg = loadObserverPackage() as any;
  return pkg.observer.Observer as grpc.ServiceClientConstructor;
}
