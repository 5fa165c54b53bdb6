// Shows each stored item of a conversation once and in order. Items carry a gapless `seq`;
// anything at or below the last shown one is a duplicate (a replay, a retried delivery),
// anything past a gap waits in a buffer until the `resume` replay fills the hole. The visitor's
// own messages are not echoed back: the app pushes a placeholder at its ack's seq.

export function createSequencer() {
  let id = null;
  let last = 0;
  const waiting = new Map();
  return {
    get id() {
      return id;
    },
    get last() {
      return last;
    },
    /** How many items wait behind a gap. */
    get waiting() {
      return waiting.size;
    },
    /** Start showing conversation `convId` after `after` (0 = its whole history). */
    reset(convId, after = 0) {
      id = convId;
      last = after;
      waiting.clear();
    },
    /** Returns the items now ready to show, in order, and whether a gap is left. */
    push(frame) {
      const seq = frame.seq;
      if (!Number.isInteger(seq) || seq <= last || waiting.has(seq)) return { ready: [], gap: waiting.size > 0 };
      waiting.set(seq, frame);
      const ready = [];
      while (waiting.has(last + 1)) {
        ready.push(waiting.get(last + 1));
        waiting.delete(last + 1);
        last += 1;
      }
      return { ready, gap: waiting.size > 0 };
    },
  };
}
