// The widget speaks livedesk.v1.msgpack: one MessagePack map per binary frame. JSON is kept as
// a fallback for a server that picks it (the hub answers with the first protocol offered).
import { decode, encode } from "@msgpack/msgpack";

export const MSGPACK = "livedesk.v1.msgpack";
export const JSON_PROTOCOL = "livedesk.v1.json";

export function encodeFrame(protocol, frame) {
  return protocol === JSON_PROTOCOL ? JSON.stringify(frame) : encode(frame);
}

export function decodeFrame(data) {
  if (typeof data === "string") return JSON.parse(data);
  return decode(new Uint8Array(data));
}
