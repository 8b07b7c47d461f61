// Pre-encoded GetFlowsResponse frames for the streaming benchmark. Encoding a
// Flow object per message costs the sending process tens of microseconds,
// which at 10,000 flows/s would make the benchmark's own sender the
// bottleneck. Each distinct flow is encoded once without its time and uuid;
// a send prepends those two fields (protobuf allows fields in any order), so
// every message on the wire is a complete, current, unique Flow.
import * as crypto from "node:crypto";
import { observerService } from "../../proto/load";
import type { Flow } from "../../proto/types";

const serializeResponse = observerService().GetFlows.responseSerialize as (value: unknown) => Buffer;

export interface FlowTemplate {
  /** The flow as objects, for the sender's filters and history. */
  flow: Flow;
  /** The Flow message's fields other than time (1) and uuid (34). */
  rest: Buffer;
}

export function flowTemplate(flow: Flow): FlowTemplate {
  const { time: _time, uuid: _uuid, ...rest } = flow;
  const response = serializeResponse({ flow: rest });
  // GetFlowsResponse{flow = 1}: tag 0x0a, a varint length, then the Flow's bytes.
  const [, offset] = readVarint(response, 1);
  return { flow, rest: response.subarray(offset) };
}

/** A GetFlowsResponse carrying `template`'s flow at `timeMs` with a fresh uuid. */
export function encodeFrame(template: FlowTemplate, timeMs: number): Buffer {
  const seconds = Math.floor(timeMs / 1000);
  const nanos = (timeMs % 1000) * 1_000_000;
  const timestamp = Buffer.concat([Buffer.from([0x08]), varint(seconds), Buffer.from([0x10]), varint(nanos)]);
  const uuid = Buffer.from(crypto.randomUUID(), "latin1");
  const flow = Buffer.concat([
    Buffer.from([0x0a]), // time = 1
    varint(timestamp.length),
    timestamp,
    Buffer.from([0x92, 0x02]), // uuid = 34
    varint(uuid.length),
    uuid,
    template.rest,
  ]);
  return Buffer.concat([Buffer.from([0x0a]), varint(flow.length), flow]);
}

function varint(n: number): Buffer {
  const bytes: number[] = [];
  while (n >= 0x80) {
    bytes.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  bytes.push(n);
  return Buffer.from(bytes);
}

function readVarint(buf: Buffer, offset: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (;;) {
    const b = buf[offset++];
    value += (b & 0x7f) * scale;
    if (b < 0x80) return [value, offset];
    scale *= 0x80;
  }
}
