// client_msg_id: unique per sender and conversation, 1–64 of [A-Za-z0-9_-] (docs/protocol.md).
export function newId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return "w" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
