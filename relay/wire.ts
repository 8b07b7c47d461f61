// The relay forwards agents' GetFlowsResponse messages as the bytes it
// received: it reads only the few fields it needs (kind, time, uuid, node)
// with a minimal protobuf scanner and never decodes or re-encodes a whole
// flow. That keeps fan-in cheap; relay-made messages (node status, lost
// events) and history queries go through the regular proto codec.
import { observerService } from "../proto/load";
import type { Flow, GetFlowsRequest, GetFlowsResponse } from "../proto/types";

export type ResponseKind = "flow" | "node_status" | "lost_events" | "unknown";

export interface ScannedResponse {
  kind: ResponseKind;
  /** Wall-clock microseconds (flow.time, else the response time); 0 when absent. */
  timeUs: number;
  uuid: string;
  nodeName: string;
}

/** Reads a varint at `pos`; returns [value, next position]. Exact up to 2^53. */
function varint(buf: Buffer, pos: number): [number, number] {
  let result = 0;
  let mul = 1;
  for (;;) {
    const b = buf[pos++];
    if (b === undefined) throw new Error("truncated protobuf varint");
    result += (b & 0x7f) * mul;
    if (b < 0x80) return [result, pos];
    mul *= 128;
  }
}

/** Position after a field of `wireType` starting at `pos` (the value, not the tag). */
function skip(buf: Buffer, pos: number, wireType: number): number {
  switch (wireType) {
    case 0:
      return varint(buf, pos)[1];
    case 1:
      return pos + 8;
    case 2: {
      const [len, p] = varint(buf, pos);
      return p + len;
    }
    case 5:
      return pos + 4;
    default:
      throw new Error(`unsupported protobuf wire type ${wireType}`);
  }
}

function timestampUs(buf: Buffer, start: number, end: number): number {
  let seconds = 0;
  let nanos = 0;
  let pos = start;
  while (pos < end) {
    const [tag, p] = varint(buf, pos);
    const field = Math.floor(tag / 8);
    if (field === 1 && (tag & 7) === 0) [seconds, pos] = varint(buf, p);
    else if (field === 2 && (tag & 7) === 0) [nanos, pos] = varint(buf, p);
    else pos = skip(buf, p, tag & 7);
  }
  return seconds * 1e6 + Math.floor(nanos / 1000);
}

function scanFlow(buf: Buffer, start: number, end: number, out: ScannedResponse, wantNodeName: boolean): void {
  let pos = start;
  while (pos < end) {
    const [tag, p] = varint(buf, pos);
    const field = Math.floor(tag / 8);
    const wt = tag & 7;
    if (wt === 2 && (field === 1 || field === 34 || field === 11)) {
      const [len, q] = varint(buf, p);
      if (field === 1) out.timeUs = timestampUs(buf, q, q + len);
      else if (field === 34) out.uuid = buf.toString("utf8", q, q + len);
      else if (wantNodeName && !out.nodeName) out.nodeName = buf.toString("utf8", q, q + len);
      pos = q + len;
    } else pos = skip(buf, p, wt);
  }
}

/**
 * The fields the relay routes by, read from an encoded GetFlowsResponse.
 * Decoding the node name costs a string per flow: callers that know it skip it.
 */
export function scanResponse(buf: Buffer, wantNodeName = true): ScannedResponse {
  const out: ScannedResponse = { kind: "unknown", timeUs: 0, uuid: "", nodeName: "" };
  let responseTimeUs = 0;
  let pos = 0;
  while (pos < buf.length) {
    const [tag, p] = varint(buf, pos);
    const field = Math.floor(tag / 8);
    const wt = tag & 7;
    if (wt !== 2) {
      pos = skip(buf, p, wt);
      continue;
    }
    const [len, q] = varint(buf, p);
    if (field === 1) {
      out.kind = "flow";
      scanFlow(buf, q, q + len, out, wantNodeName);
    } else if (field === 2) out.kind = "node_status";
    else if (field === 3) out.kind = "lost_events";
    else if (field === 1000 && wantNodeName) out.nodeName = buf.toString("utf8", q, q + len);
    else if (field === 1001) responseTimeUs = timestampUs(buf, q, q + len);
    pos = q + len;
  }
  if (!out.timeUs) out.timeUs = responseTimeUs;
  return out;
}

const GET_FLOWS = () => observerService().GetFlows;

export function encodeResponse(res: GetFlowsResponse): Buffer {
  return GET_FLOWS().responseSerialize(res) as Buffer;
}

function decodeResponse(buf: Buffer): GetFlowsResponse {
  return GET_FLOWS().responseDeserialize(buf) as GetFlowsResponse;
}

export function decodeFlow(buf: Buffer): Flow | undefined {
  return decodeResponse(buf).flow;
}

export function encodeRequest(req: GetFlowsRequest): Buffer {
  return GET_FLOWS().requestSerialize(req) as Buffer;
}

export const GET_FLOWS_PATH = "/observer.Observer/GetFlows";
export const SERVER_STATUS_PATH = "/observer.Observer/ServerStatus";
export const GET_NODES_PATH = "/observer.Observer/GetNodes";

export function usToTimestamp(us: number): { seconds: number; nanos: number } {
  const seconds = Math.floor(us / 1e6);
  return { seconds, nanos: Math.round(us - seconds * 1e6) * 1000 };
}

export function timestampToUs(ts: { seconds?: number; nanos?: number } | undefined | null): number {
  return ts ? (ts.seconds ?? 0) * 1e6 + Math.floor((ts.nanos ?? 0) / 1000) : 0;
}
