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
  /** Where the flow's uuid lies in the buffer (equal when absent): a string is made only when one is needed. */
  uuidStart: number;
  uuidEnd: number;
  nodeName: string;
}

// The varint reader returns the value and leaves the next position here, so
// reading a field allocates nothing (this runs for every relayed flow).
let next = 0;

/** Reads a varint at `pos`, exact up to 2^53; the position after it is left in `next`. */
function varint(buf: Buffer, pos: number): number {
  let result = 0;
  let mul = 1;
  for (;;) {
    const b = buf[pos++];
    if (b === undefined) throw new Error("truncated protobuf varint");
    result += (b & 0x7f) * mul;
    if (b < 0x80) {
      next = pos;
      return result;
    }
    mul *= 128;
  }
}

/** Position after a field of `wireType` whose value starts at `pos`. */
function skip(buf: Buffer, pos: number, wireType: number): number {
  switch (wireType) {
    case 0:
      varint(buf, pos);
      return next;
    case 1:
      return pos + 8;
    case 2: {
      const len = varint(buf, pos);
      return next + len;
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
    const tag = varint(buf, pos);
    if (tag === 0x08) {
      seconds = varint(buf, next);
      pos = next;
    } else if (tag === 0x10) {
      nanos = varint(buf, next);
      pos = next;
    } else pos = skip(buf, next, tag & 7);
  }
  return seconds * 1e6 + Math.floor(nanos / 1000);
}

function scanFlow(buf: Buffer, start: number, end: number, out: ScannedResponse, wantNodeName: boolean): void {
  let pos = start;
  while (pos < end) {
    const tag = varint(buf, pos);
    // time (1), uuid (34) and node_name (11), all length-delimited
    if (tag === 0x0a || tag === 0x112 || tag === 0x5a) {
      const len = varint(buf, next);
      const q = next;
      if (tag === 0x0a) out.timeUs = timestampUs(buf, q, q + len);
      else if (tag === 0x112) {
        out.uuidStart = q;
        out.uuidEnd = q + len;
      } else if (wantNodeName && !out.nodeName) out.nodeName = buf.toString("utf8", q, q + len);
      pos = q + len;
    } else pos = skip(buf, next, tag & 7);
  }
}

/**
 * The fields the relay routes by, read from an encoded GetFlowsResponse that
 * starts at `start` (5 for a message still in its gRPC frame). Decoding the
 * node name costs a string per flow: callers that know it skip it.
 */
export function scanResponse(buf: Buffer, wantNodeName = true, start = 0): ScannedResponse {
  const out: ScannedResponse = { kind: "unknown", timeUs: 0, uuidStart: 0, uuidEnd: 0, nodeName: "" };
  let responseTimeUs = 0;
  let pos = start;
  while (pos < buf.length) {
    const tag = varint(buf, pos);
    const wt = tag & 7;
    if (wt !== 2) {
      pos = skip(buf, next, wt);
      continue;
    }
    const field = Math.floor(tag / 8);
    const len = varint(buf, next);
    const q = next;
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

/** A message in its gRPC frame: the 5-byte prefix (uncompressed, length) and the message. */
export function frame(message: Buffer): Buffer {
  const framed = Buffer.allocUnsafe(5 + message.length);
  framed[0] = 0;
  framed.writeUInt32BE(message.length, 1);
  message.copy(framed, 5);
  return framed;
}

/** The flow's uuid as a string ("" when absent). */
export function scannedUuid(buf: Buffer, scanned: ScannedResponse): string {
  return buf.toString("utf8", scanned.uuidStart, scanned.uuidEnd);
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
