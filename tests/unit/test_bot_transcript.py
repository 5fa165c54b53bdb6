"""The bot's state folded from stored items: pure, no store, no server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chatserver.bot.brain import BotBrain, BotReply, HumanRequested, message_data
from chatserver.bot.transcript import (
    BotState,
    Exchange,
    Item,
    Shown,
    fold,
    handoff_summary,
    item_of_row,
)
from kb.io import read_jsonl
from kb.matcher import KnowledgeIndex

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(scope="module")
def index() -> KnowledgeIndex:
    return KnowledgeIndex(read_jsonl(DATA / "kb_articles.jsonl"))


class Transcript:
    """Items as the hub stores them: the visitor's texts, the bot's messages with
    ``message_data``, system events; seqs gapless from 1."""

    def __init__(self) -> None:
        self.items: list[Item] = []

    def _next(self) -> int:
        return len(self.items) + 1

    def visitor(self, text: str) -> int:
        seq = self._next()
        self.items.append(Item(seq, "text", "visitor", text))
        return seq

    def bot(self, reply: BotReply) -> int:
        seq = self._next()
        self.items.append(Item(seq, "text", "bot", reply.text, message_data(reply)))
        return seq

    def event(self, name: str, **data: Any) -> int:
        seq = self._next()
        self.items.append(Item(seq, "event", "system", name, data))
        return seq

    def agent(self, text: str) -> int:
        seq = self._next()
        self.items.append(Item(seq, "text", "agent", text))
        return seq

    def turn(self, brain: BotBrain, text: str) -> list[BotReply | HumanRequested]:
        """The visitor writes; a brain rebuilt from the stored items replies, and its
        replies are stored (the hub's bot turn, without the hub)."""
        seq = self.visitor(text)
        rebuilt = BotBrain(brain.index, brain.visitor_lang, fold(self.items))
        replies = rebuilt.reply_to(seq, text)
        for reply in replies:
            if isinstance(reply, BotReply):
                self.bot(reply)
            else:
                self.event("human_requested")
        return replies


def test_a_brain_rebuilt_from_the_transcript_knows_what_the_live_one_knew(
    index: KnowledgeIndex,
) -> None:
    live = BotBrain(index, "en")
    stored = Transcript()
    stored.bot(live.greet(2, 90))
    for text in ["forgot password", "no", "does the tv support hdmi 2.1", "agent please"]:
        live_replies = live.reply_to(stored.visitor(text), text)
        for reply in live_replies:
            if isinstance(reply, BotReply):
                stored.bot(reply)
            else:
                stored.event("human_requested")
        # The live brain numbered its own replies as the store did.
        assert live.state.last_seq == len(stored.items)
    rebuilt = fold(stored.items)
    assert rebuilt.exchanges == live.state.exchanges
    assert rebuilt.human_requested and live.state.human_requested
    assert handoff_summary(rebuilt, "en") == live.handoff_summary()


def test_after_a_restart_yes_is_read_as_feedback_on_the_stored_answer(
    index: KnowledgeIndex,
) -> None:
    stored = Transcript()
    [asked] = stored.turn(BotBrain(index, "en"), "forgot password")
    assert isinstance(asked, BotReply) and asked.kind in ("answer", "offer")
    # A new process: nothing but the stored items.
    [thanks] = stored.turn(BotBrain(index, "en"), "yes")
    assert isinstance(thanks, BotReply) and thanks.kind == "helped"
    state = fold(stored.items)
    assert state.exchanges[-1].helped is True and state.set_aside
    # Without the stored answer, "yes" is only a question the bot cannot answer.
    [alone] = BotBrain(index, "en").on_visitor_message("yes")
    assert isinstance(alone, BotReply) and alone.kind == "no_answer"


def test_the_greeting_is_remembered_until_a_person_takes_the_chat(
    index: KnowledgeIndex,
) -> None:
    brain = BotBrain(index, "sl")
    stored = Transcript()
    stored.visitor("pozdravljeni")
    assert not fold(stored.items).greeted
    stored.bot(brain.greet())
    stored.visitor("še vedno čakam")
    assert fold(stored.items).greeted
    assigned = stored.event("assigned", agent={"id": 1, "name": "Ana"})
    stored.agent("Dober dan!")
    after = fold(stored.items)
    assert (after.greeted, after.spell) == (False, assigned)
    stored.event("requeued", reason="transfer")
    stored.bot(brain.greet())
    assert fold(stored.items).greeted


def test_replies_pair_with_their_question_even_when_the_visitor_wrote_twice() -> None:
    first = BotReply("…", "answer", "en", for_seq=1)
    stored = Transcript()
    stored.visitor("how do I pay by card")
    stored.visitor("and is there a discount")
    both = fold(stored.items)
    assert both.question(1) == "how do I pay by card"
    assert both.question(2) == "and is there a discount"
    stored.bot(first)
    stored.bot(BotReply("…", "no_answer", "en", for_seq=2))
    state = fold(stored.items)
    assert [(e.question_seq, e.question, e.kind) for e in state.exchanges] == [
        (1, "how do I pay by card", "answer"),
        (2, "and is there a discount", "no_answer"),
    ]
    # Replied to: a second turn for either finds nothing to answer.
    assert state.question(1) is None and state.question(2) is None
    assert not state.awaiting_feedback  # the latest reply asked nothing


def test_a_bot_message_stored_without_for_seq_pairs_with_the_latest_question() -> None:
    """Bot messages stored before they named their question still fold."""
    stored = Transcript()
    stored.visitor("kur mano užsakymas")
    data = {
        "bot_kind": "offer",
        "articles": [{"id": "order-status-lt", "title": "Kur mano užsakymas?", "snippet": "…"}],
    }
    stored.items.append(Item(2, "text", "bot", "…", data))
    [exchange] = fold(stored.items).exchanges
    assert exchange == Exchange(
        1, "kur mano užsakymas", "offer", (Shown("order-status-lt", "Kur mano užsakymas?"),)
    )
    assert fold(stored.items).awaiting_feedback


def test_a_handoff_starts_a_new_story_for_the_next_summary() -> None:
    stored = Transcript()
    q = stored.visitor("where is my order")
    stored.bot(BotReply("…", "no_answer", "en", for_seq=q))
    stored.event("assigned", agent={"id": 1})
    stored.event("handoff", summary="…")
    assert fold(stored.items).exchanges == ()
    stored.event("requeued", reason="transfer")
    q2 = stored.visitor("still no parcel")
    stored.bot(BotReply("…", "no_answer", "en", for_seq=q2))
    summary = handoff_summary(fold(stored.items), "en")
    assert "'still no parcel'" in summary and "where is my order" not in summary
    assert summary.endswith("Visitor asked for a human: no")


def test_folding_is_incremental_and_a_repeated_page_changes_nothing(
    index: KnowledgeIndex,
) -> None:
    stored = Transcript()
    stored.bot(BotBrain(index, "ru").greet(3, 200))
    for text in ["промокод не работает", "нет", "оператор"]:
        stored.turn(BotBrain(index, "ru"), text)
    whole = fold(stored.items)
    for cut in range(len(stored.items) + 1):
        head = fold(stored.items[:cut])
        # The next page overlaps what was folded already (a re-read from an older mark).
        assert fold(stored.items[max(0, cut - 2) :], head) == whole
    assert whole.last_seq == len(stored.items)


def test_set_aside_after_an_article_helped_until_a_person_is_wanted(
    index: KnowledgeIndex,
) -> None:
    stored = Transcript()
    stored.turn(BotBrain(index, "en"), "forgot password")
    stored.turn(BotBrain(index, "en"), "yes")
    assert fold(stored.items).set_aside
    stored.turn(BotBrain(index, "en"), "how do I pay by card")  # answered: still set aside
    assert fold(stored.items).set_aside
    stored.turn(BotBrain(index, "en"), "I want to talk to a human")
    state = fold(stored.items)
    assert not state.set_aside and state.human_requested


def test_a_stored_row_becomes_an_item() -> None:
    data = {"bot_kind": "greeting", "articles": []}
    row = {
        "seq": 4,
        "kind": "text",
        "author": "bot",
        "body": "Hello, I am the bot.",
        "data": json.dumps(data),
        "client_msg_id": "bot-greet-0",
    }
    assert item_of_row(row) == Item(4, "text", "bot", "Hello, I am the bot.", data)
    event = {"seq": 5, "kind": "event", "author": "system", "body": "offline", "data": None}
    assert item_of_row(event) == Item(5, "event", "system", "offline", {})
    assert fold([item_of_row(row)]) == BotState(last_seq=4, greeted=True)
