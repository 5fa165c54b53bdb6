"""The bot's decisions, sans I/O: text in, replies out; the hub sends them and keeps time.

The bot holds a conversation while the visitor waits for a person.  It never pretends to be
one: every reply is a :class:`BotReply` with ``author == "bot"`` and its greeting says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from chatserver.bot.phrases import (
    DEFAULT_LANG,
    HUMAN_PHRASES,
    HUMAN_WORDS,
    LANGS,
    NO_WORDS,
    PHRASES,
    YES_WORDS,
    plural_category,
)
from chatserver.bot.transcript import BotState, Item, fold, handoff_summary
from kb.matcher import Suggestion
from kb.normalize import fold as fold_text
from kb.normalize import words

ReplyKind = Literal[
    "greeting",
    "queue",
    "answer",
    "offer",
    "no_answer",
    "helped",
    "not_helped",
    "human_ack",
    "offline_form",
]
# Feedback is only read from short replies: "no, but how do I pay by card?" is a new question.
FEEDBACK_MAX_WORDS = 6
OFFER_LIMIT = 3


class ArticleIndex(Protocol):
    def suggest(self, text: str, lang: str | None = None, limit: int = 3) -> list[Suggestion]: ...

    def best(self, text: str, lang: str | None = None) -> Suggestion | None: ...


@dataclass(frozen=True, slots=True)
class QuickReply:
    """A button under a bot message: ``reply`` sends ``text`` as the visitor's message (the
    bot reads it as if typed), ``end`` ends the chat."""

    label: str
    action: Literal["reply", "end"] = "reply"
    text: str = ""


@dataclass(frozen=True, slots=True)
class BotReply:
    text: str
    kind: ReplyKind
    lang: str
    articles: tuple[Suggestion, ...] = ()
    author: Literal["bot"] = "bot"
    # Shown next to the message in the widget, so the visitor always sees it is the bot.
    label: str = "Bot"
    quick_replies: tuple[QuickReply, ...] = ()
    # The visitor message this replies to (stored with it: the transcript pairs them).
    for_seq: int | None = None


def message_data(reply: BotReply) -> dict[str, Any]:
    """What a bot message stores beside its text: its kind, the articles it shows, its
    buttons and the message it answers; ``transcript.fold`` reads the bot's memory back
    from exactly this."""
    data: dict[str, Any] = {
        "bot_kind": reply.kind,
        "articles": [
            {"id": s.article_id, "title": s.title, "snippet": s.snippet} for s in reply.articles
        ],
    }
    if reply.quick_replies:
        data["quick_replies"] = [
            {"label": q.label, "action": q.action, **({"text": q.text} if q.text else {})}
            for q in reply.quick_replies
        ]
    if reply.for_seq is not None:
        data["for_seq"] = reply.for_seq
    return data


@dataclass(frozen=True, slots=True)
class HumanRequested:
    """The visitor asked for a person; ``summary`` is for the agent who takes over."""

    summary: str
    at_ms: int | None = None


# What the brain concluded about one visitor message (before it is turned into replies).
@dataclass(frozen=True, slots=True)
class Answer:
    article: Suggestion


@dataclass(frozen=True, slots=True)
class Offer:
    articles: tuple[Suggestion, ...]


@dataclass(frozen=True, slots=True)
class NoAnswer:
    pass


@dataclass(frozen=True, slots=True)
class AskedForHuman:
    pass


@dataclass(frozen=True, slots=True)
class Feedback:
    helped: bool


Decision = Answer | Offer | NoAnswer | AskedForHuman | Feedback


def resolve_lang(lang: str | None) -> str:
    """The phrase table for a visitor's language tag (``sr`` → ``sr-Latn``, ``sl-SI`` → ``sl``)."""
    if not lang:
        return DEFAULT_LANG
    tag = lang.replace("_", "-").lower()
    base = tag.split("-")[0]
    if base == "sr":
        return "sr-Cyrl" if "cyrl" in tag else "sr-Latn"
    return base if base in LANGS else DEFAULT_LANG


def is_human_request(text: str) -> bool:
    tokens = words(fold_text(text, "ru"))
    latin = words(fold_text(text, "sr"))
    found = set(tokens) | set(latin)
    if found & HUMAN_WORDS:
        return True
    return any(a in found and b in found for a, b in HUMAN_PHRASES)


def feedback_of(text: str) -> bool | None:
    """True for "yes, thanks", False for "no"/"didn't help", None when it is neither."""
    tokens = set(words(fold_text(text, "ru"))) | set(words(fold_text(text, "sr")))
    if not tokens or len(tokens) > FEEDBACK_MAX_WORDS:
        return None
    if tokens & NO_WORDS:
        return False
    if tokens & YES_WORDS:
        return True
    return None


class BotBrain:
    """One conversation's bot, as of ``state`` (folded from the stored transcript): what
    was asked, what was offered, whether it helped. Replying folds the visitor's message
    and the bot's own replies into ``state`` the way the store will hold them, so a brain
    used for several messages in a row and one rebuilt from the store agree."""

    def __init__(self, index: ArticleIndex, lang: str | None, state: BotState | None = None):
        self.index = index
        self.visitor_lang = lang
        self.lang = resolve_lang(lang)
        self._phrases = PHRASES[self.lang]
        self.state = state if state is not None else BotState()

    # -- phrases ----------------------------------------------------------------------------

    def _say(self, key: str, n: int | None = None) -> str:
        phrase = self._phrases[key]
        if isinstance(phrase, str):
            return phrase
        assert n is not None, f"phrase {key!r} needs a count"
        return phrase[plural_category(self.lang, n)].format(n=n)

    def _reply(
        self,
        kind: ReplyKind,
        text: str,
        articles: tuple[Suggestion, ...] = (),
        quick_replies: tuple[QuickReply, ...] = (),
        for_seq: int | None = None,
    ) -> BotReply:
        return BotReply(
            text,
            kind,
            self.lang,
            articles,
            label=self._say("label"),
            quick_replies=quick_replies,
            for_seq=for_seq,
        )

    def _yes_no(self) -> tuple[QuickReply, ...]:
        # The button sends the word itself, so a typed "yes" and a pressed one are one path.
        yes, no = self._say("yes"), self._say("no")
        return (QuickReply(yes, text=yes), QuickReply(no, text=no))

    def _queue_text(self, position: int | None, eta_s: float | None) -> list[str]:
        parts: list[str] = []
        if position is not None and position >= 1:
            parts.append(
                self._say("queue_next") if position == 1 else self._say("queue_ahead", position - 1)
            )
        if eta_s is not None and eta_s >= 0:
            if eta_s < 60:
                parts.append(self._say("eta_soon"))
            else:
                parts.append(self._say("eta", max(1, math.ceil(eta_s / 60))))
        return parts

    # -- what the hub calls -----------------------------------------------------------------

    def _remember(self, said: list[BotReply | HumanRequested]) -> None:
        """Fold what the bot just said into ``state`` as the store will hold it: one item
        each, numbered after everything known (a wish for a person is a stored event)."""
        after = self.state.last_seq
        items = [
            Item(after + i, "text", "bot", r.text, message_data(r))
            if isinstance(r, BotReply)
            else Item(after + i, "event", "system", "human_requested")
            for i, r in enumerate(said, start=1)
        ]
        self.state = fold(items, self.state)

    def greet(self, queue_position: int | None = None, eta_s: float | None = None) -> BotReply:
        """The first message: who the bot is, the visitor's place and wait, how to get a human."""
        parts = [self._say("greet"), *self._queue_text(queue_position, eta_s), self._say("ask")]
        reply = self._reply("greeting", " ".join(parts))
        self._remember([reply])
        return reply

    def queue_update(self, position: int | None, eta_s: float | None) -> BotReply:
        reply = self._reply("queue", " ".join(self._queue_text(position, eta_s)))
        self._remember([reply])
        return reply

    def offline_prompt(self) -> BotReply:
        """Nobody will come (no agent online, outside hours): ask for e-mail and message."""
        reply = self._reply("offline_form", self._say("offline"))
        self._remember([reply])
        return reply

    def decide(self, text: str) -> Decision:
        """What to do with a visitor message; reads state but changes nothing."""
        if is_human_request(text):
            return AskedForHuman()
        if self.state.awaiting_feedback:
            helped = feedback_of(text)
            if helped is not None:
                return Feedback(helped)
        best = self.index.best(text, self.visitor_lang)
        if best is not None:
            return Answer(best)
        offered = self.index.suggest(text, self.visitor_lang, OFFER_LIMIT)
        if offered:
            return Offer(tuple(offered))
        return NoAnswer()

    def on_visitor_message(
        self, text: str, now_ms: int | None = None
    ) -> list[BotReply | HumanRequested]:
        """A visitor message that comes right after everything ``state`` holds."""
        return self.reply_to(self.state.last_seq + 1, text, now_ms)

    def reply_to(
        self, seq: int, text: str, now_ms: int | None = None
    ) -> list[BotReply | HumanRequested]:
        """The replies to visitor message ``seq`` (``state`` may hold it already)."""
        self.state = fold([Item(seq, "text", "visitor", text)], self.state)
        decision = self.decide(text)
        said: list[BotReply | HumanRequested] = list(self._replies(decision, seq))
        self._remember(said)
        if isinstance(decision, AskedForHuman):
            # Stored as the ``human_requested`` event; the summary as of that moment.
            self._remember([HumanRequested("")])
            said.append(HumanRequested(self.handoff_summary(), now_ms))
        return said

    def _replies(self, decision: Decision, seq: int) -> list[BotReply]:
        if isinstance(decision, AskedForHuman):
            return [self._reply("human_ack", self._say("human_ack"), for_seq=seq)]
        if isinstance(decision, Feedback):
            if decision.helped:
                # Solved: offer to end rather than leave them waiting for a person they no
                # longer need (the way to a person stays open, one button away).
                end = QuickReply(self._say("end_chat"), action="end")
                return [
                    self._reply("helped", self._say("helped"), quick_replies=(end,), for_seq=seq)
                ]
            return [self._reply("not_helped", self._say("not_helped"), for_seq=seq)]
        if isinstance(decision, Answer):
            a = decision.article
            body = f"{self._say('answer')}\n\n{a.title}\n{a.snippet}\n\n{self._say('did_it_help')}"
            return [self._reply("answer", body, (a,), self._yes_no(), for_seq=seq)]
        if isinstance(decision, Offer):
            lines = [f"{i}. {s.title}" for i, s in enumerate(decision.articles, start=1)]
            body = "\n".join([self._say("offer"), *lines, "", self._say("did_any_help")])
            return [self._reply("offer", body, decision.articles, self._yes_no(), for_seq=seq)]
        return [self._reply("no_answer", self._say("no_answer"), for_seq=seq)]

    def handoff_summary(self) -> str:
        """For the agent who takes over (in English, the desk's language)."""
        return handoff_summary(self.state, self.visitor_lang)

    @property
    def exchanges(self) -> int:
        return len(self.state.exchanges)


__all__ = [
    "Answer",
    "AskedForHuman",
    "BotBrain",
    "BotReply",
    "Decision",
    "Feedback",
    "HumanRequested",
    "NoAnswer",
    "Offer",
    "QuickReply",
    "message_data",
    "resolve_lang",
]
