"""The bot's memory, folded from a conversation's stored items: no I/O, nothing kept.

A conversation's truth is its transcript, so the bot keeps nothing of its own: every bot
message stores what it was (``bot_kind``), what it showed (``articles``) and which visitor
message it answered (``for_seq``). Folding the items in seq order gives back what the bot
knows: whether it greeted, what it was asked and answered, whether that helped, whether the
visitor asked for a person. Any process folds the same items to the same state, so whichever
node answers or hands off, and a restarted one, sees the same bot.

The fold is incremental (``fold(new_items, state)``), so a cache of states only ever needs
the items after its ``last_seq``; folding an item twice changes nothing.

Two boundaries, both stored events: ``assigned`` (a person took the chat) ends the bot's
spell, so the bot greets again if the chat comes back to it; ``handoff`` (the summary given
to that person) starts a new story, so a summary never repeats an earlier one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

ExchangeKind = Literal["answer", "offer", "no_answer"]
EXCHANGE_KINDS: frozenset[str] = frozenset({"answer", "offer", "no_answer"})
# After the bot's article helped (the chat is out of the queue), these replies mean a
# person is wanted after all.
STILL_WANTS_A_PERSON: frozenset[str] = frozenset({"not_helped", "no_answer", "human_ack"})
# Visitor messages the bot has not replied to yet, newest last; older ones are dropped (the
# bot only ever answers the latest few, and a chat an agent holds keeps writing).
PENDING_MAX = 16


@dataclass(frozen=True, slots=True)
class Item:
    """One stored item of a conversation, as the fold reads it."""

    seq: int
    kind: str  # "text" or "event"
    author: str  # visitor, agent, bot, system
    body: str  # the text, or the event's name
    data: Mapping[str, Any] = field(default_factory=dict)


def item_of_row(row: Mapping[str, Any]) -> Item:
    """A ``messages`` row (as the store returns it) as an item; ``data`` is stored as JSON."""
    raw = row.get("data")
    data = json.loads(raw) if isinstance(raw, str) and raw else {}
    return Item(
        seq=int(row["seq"]),
        kind=str(row["kind"]),
        author=str(row["author"]),
        body=str(row.get("body") or ""),
        data=data if isinstance(data, dict) else {},
    )


@dataclass(frozen=True, slots=True)
class Shown:
    """An article the bot showed: enough to name it in the summary."""

    article_id: str
    title: str


@dataclass(frozen=True, slots=True)
class Exchange:
    """A visitor's question and what the bot made of it."""

    question_seq: int
    question: str
    kind: ExchangeKind
    articles: tuple[Shown, ...] = ()
    helped: bool | None = None  # the visitor's feedback; None: none given


@dataclass(frozen=True, slots=True)
class BotState:
    """What the bot knows about one conversation, as of item ``last_seq``."""

    last_seq: int = 0
    # The seq of the last ``assigned`` event (0: never): the bot's spell began after it.
    spell: int = 0
    greeted: bool = False  # in this spell
    # Since the last hand-off: what the summary for the next person tells.
    exchanges: tuple[Exchange, ...] = ()
    human_requested: bool = False
    # The bot asked "did it help?" and has had no reply to that yet.
    awaiting_feedback: bool = False
    # An article helped, so the chat left the queue; a wish for a person queues it again.
    set_aside: bool = False
    # Visitor messages after the last one the bot replied to: (seq, text).
    pending: tuple[tuple[int, str], ...] = ()
    # The newest visitor message the bot replied to (bot replies go in order).
    answered_through: int = 0

    def question(self, seq: int) -> str | None:
        """The text of visitor message ``seq`` if the bot has not replied to it yet."""
        if seq <= self.answered_through:
            return None
        return next((text for s, text in self.pending if s == seq), None)


def fold(items: Iterable[Item], state: BotState | None = None) -> BotState:
    """``state`` (or a fresh one) with ``items`` (in seq order) folded in; items at or
    before ``state.last_seq`` are skipped, so re-reading a page is harmless."""
    current = state if state is not None else BotState()
    for item in items:
        if item.seq <= current.last_seq:
            continue
        current = replace(_step(current, item), last_seq=item.seq)
    return current


def _step(state: BotState, item: Item) -> BotState:
    if item.kind == "event":
        return _event(state, item)
    if item.author == "visitor":
        pending = (*state.pending, (item.seq, item.body))[-PENDING_MAX:]
        return replace(state, pending=pending)
    if item.author == "bot":
        return _bot_said(state, item)
    return state


def _event(state: BotState, item: Item) -> BotState:
    if item.body == "assigned":
        # A person holds the chat: the bot's spell is over (and nothing is set aside).
        return replace(
            state,
            spell=item.seq,
            greeted=False,
            awaiting_feedback=False,
            set_aside=False,
            pending=(),
        )
    if item.body == "handoff":
        return replace(state, exchanges=(), human_requested=False)
    if item.body == "human_requested":
        return replace(state, human_requested=True, awaiting_feedback=False, set_aside=False)
    return state


def _bot_said(state: BotState, item: Item) -> BotState:
    kind = item.data.get("bot_kind")
    if kind == "greeting":
        return replace(state, greeted=True)
    if kind not in EXCHANGE_KINDS and kind not in ("helped", "not_helped", "human_ack"):
        return state  # the queue line, the offline form: nothing to remember
    # Which visitor message this replies to: stored with it; for an item stored before
    # that was, the latest one not replied to.
    for_seq = item.data.get("for_seq")
    if not isinstance(for_seq, int):
        for_seq = state.pending[-1][0] if state.pending else state.answered_through
    question = dict(state.pending).get(for_seq, "")
    state = replace(
        state,
        pending=tuple(p for p in state.pending if p[0] > for_seq),
        answered_through=max(state.answered_through, for_seq),
    )
    if kind in EXCHANGE_KINDS:
        exchange = Exchange(for_seq, question, kind, _shown(item.data.get("articles")))
        return replace(
            state,
            exchanges=(*state.exchanges, exchange),
            awaiting_feedback=kind != "no_answer",
            set_aside=state.set_aside and kind not in STILL_WANTS_A_PERSON,
        )
    if kind == "human_ack":
        return replace(state, human_requested=True, awaiting_feedback=False, set_aside=False)
    helped = kind == "helped"
    exchanges = state.exchanges
    if exchanges:
        exchanges = (*exchanges[:-1], replace(exchanges[-1], helped=helped))
    return replace(state, exchanges=exchanges, awaiting_feedback=False, set_aside=helped)


def _shown(articles: Any) -> tuple[Shown, ...]:
    if not isinstance(articles, list):
        return ()
    return tuple(
        Shown(str(a.get("id", "")), str(a.get("title", "")))
        for a in articles
        if isinstance(a, dict)
    )


def handoff_summary(state: BotState, visitor_lang: str | None) -> str:
    """For the person who takes over (in English, the desk's language)."""
    lines = [f"Bot summary (visitor language: {visitor_lang or 'unknown'})"]
    if not state.exchanges:
        lines.append("The visitor asked nothing while waiting.")
    for i, ex in enumerate(state.exchanges, start=1):
        lines.append(f"{i}. Visitor asked: {ex.question.strip()!r}")
        if ex.kind == "no_answer":
            lines.append("   Bot found no article.")
            continue
        verb = "Bot answered with" if ex.kind == "answer" else "Bot offered"
        titles = "; ".join(f"{s.title} [{s.article_id}]" for s in ex.articles)
        lines.append(f"   {verb}: {titles}")
        helped = {True: "yes", False: "no", None: "no reply"}[ex.helped]
        lines.append(f"   Helped: {helped}")
    lines.append(f"Visitor asked for a human: {'yes' if state.human_requested else 'no'}")
    return "\n".join(lines)


__all__ = [
    "STILL_WANTS_A_PERSON",
    "BotState",
    "Exchange",
    "Item",
    "Shown",
    "fold",
    "handoff_summary",
    "item_of_row",
]
