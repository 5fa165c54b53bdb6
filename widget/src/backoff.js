// Reconnect timing from docs/protocol.md: start at 0.5 s, double up to 10 s, add jitter, so a
// restarted hub is not hit by every widget at the same instant.

export const BACKOFF_START_MS = 500;
export const BACKOFF_MAX_MS = 10000;

/** Delay before reconnect attempt `attempt` (0-based): half fixed, half random. */
export function backoffDelay(attempt, random = Math.random) {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** attempt);
  return ceiling / 2 + random() * (ceiling / 2);
}

/**
 * What a close code asks for (docs/protocol.md, "Close codes"): 4100–4199 say "do not reconnect
 * until the user acts"; everything else (1000–1015, 4000–4099, and 1006 for a dropped network)
 * says "reconnect with backoff and resume".
 */
export function closeAction(code) {
  if (code === 4100) return "reauth";
  if (code >= 4100 && code <= 4199) return "stop";
  return "retry";
}
