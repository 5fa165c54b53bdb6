"""Stored conversations and texts → the samples ``router.capfit`` reads.

For every agent reply: how long the visitor had waited for it (from their first unanswered
text) and how many chats its agent held at that moment; for every closed chat: its handle
time (assignment to close), the most chats its agent held while it was open, and its CSAT.
"Held" is read from the conversations' own assignment and close times, so a chat counts
for the agent who ended up with it (a transfer's earlier holder is not credited). Pure.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from router.capfit import ChatSample, ReplySample

Row = Mapping[str, Any]
INF = float("inf")


@dataclass(slots=True)
class _Held:
    """One agent's chats as sorted start and end times: a count at any moment by bisection."""

    starts: list[float]
    ends: list[float]

    def at(self, t: float) -> int:
        # Started at or before t, not yet ended (a chat closed at t no longer counts).
        return bisect_right(self.starts, t) - bisect_right(self.ends, t)

    def most(self, start: float, end: float) -> int:
        """The most held at once over [start, end): the count only rises at a start."""
        best = self.at(start)
        lo, hi = bisect_right(self.starts, start), bisect_left(self.starts, end)
        for t in self.starts[lo:hi]:
            best = max(best, self.at(t))
        return best


def _held(convs: Iterable[Row]) -> dict[str, _Held]:
    spans: dict[str, list[tuple[float, float]]] = {}
    for c in convs:
        if c.get("agent_id") is None or c.get("assigned_ms") is None:
            continue
        end = c.get("closed_ms")
        spans.setdefault(str(c["agent_id"]), []).append(
            (float(c["assigned_ms"]), INF if end is None else float(end))
        )
    return {
        agent: _Held(sorted(s for s, _ in pairs), sorted(e for _, e in pairs))
        for agent, pairs in spans.items()
    }


@dataclass(frozen=True, slots=True)
class Reply:
    conversation_id: str
    agent_id: str | None  # the message's author, when stored
    at_ms: int
    response_s: float  # since the visitor's first unanswered text
    first: bool  # the conversation's first answered reply


def reply_times(texts: Iterable[Row]) -> Iterator[Reply]:
    """Each agent reply that answered a waiting visitor (``texts`` in order per
    conversation: conversation_id, author, author_id, created_ms)."""
    waiting_since: dict[str, int] = {}
    answered: set[str] = set()
    for m in texts:
        conv_id = str(m["conversation_id"])
        t = int(m["created_ms"])
        if m["author"] == "visitor":
            waiting_since.setdefault(conv_id, t)
            continue
        since = waiting_since.pop(conv_id, None)
        if since is None:
            continue  # an agent writing first, or twice in a row: nobody was waiting
        author = m.get("author_id")
        yield Reply(
            conv_id,
            str(author) if author else None,
            t,
            max(0.0, (t - since) / 1000.0),
            conv_id not in answered,
        )
        answered.add(conv_id)


def cap_samples(
    convs: Iterable[Row], texts: Iterable[Row]
) -> tuple[list[ReplySample], list[ChatSample]]:
    """``convs``: id, agent_id, team, assigned_ms, closed_ms, csat_score; ``texts``:
    conversation_id, author ("visitor"/"agent"), author_id, created_ms, in order per
    conversation (``desk_queries.texts_with_authors``)."""
    conv_list = list(convs)
    by_id = {str(c["id"]): c for c in conv_list}
    held = _held(conv_list)
    replies: list[ReplySample] = []
    for r in reply_times(texts):
        conv = by_id.get(r.conversation_id)
        if conv is None:
            continue
        agent = r.agent_id or str(conv["agent_id"])
        if agent not in held:
            continue
        replies.append(
            ReplySample(
                agent_id=agent,
                team=conv.get("team"),
                concurrency=max(1, held[agent].at(r.at_ms)),
                response_s=r.response_s,
                first=r.first,
            )
        )
    chats: list[ChatSample] = []
    for c in conv_list:
        if c.get("closed_ms") is None or c.get("agent_id") is None:
            continue
        agent = str(c["agent_id"])
        start, end = float(c["assigned_ms"]), float(c["closed_ms"])
        csat = c.get("csat_score")
        chats.append(
            ChatSample(
                agent_id=agent,
                team=c.get("team"),
                concurrency=max(1, held[agent].most(start, end)),
                handle_s=max(0.0, (end - start) / 1000.0),
                csat=int(csat) if csat is not None else None,
            )
        )
    return replies, chats
