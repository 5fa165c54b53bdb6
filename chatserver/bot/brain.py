"""The bot's decisions, sans I/O: text in, replies out; the hub sends them and keeps time.

The bot holds a conversation while the visitor waits for a person.  It never pretends to be
one: every reply is a :class:`BotReply` with ``author == "bot"`` and its greeting says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Protocol

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
from kb.matcher import Suggestion
from kb.normalize import fold, words

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


@dataclass(slots=True)
class _Exchange:
    question: str
    at_ms: int | None
    kind: Literal["answer", "offer", "no_answer"]
    articles: tuple[Suggestion, ...]
    helped: bool | None = None


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
    tokens = words(fold(text, "ru"))
    latin = words(fold(text, "sr"))
    found = set(tokens) | set(latin)
    if found & HUMAN_WORDS:
        return True
    return any(a in found and b in found for a, b in HUMAN_PHRASES)


def feedback_of(text: str) -> bool | None:
    """True for "yes, thanks", False for "no"/"didn't help", None when it is neither."""
    tokens = set(words(fold(text, "ru"))) | set(words(fold(text, "sr")))
    if not tokens or len(tokens) > FEEDBACK_MAX_WORDS:
        return None
    if tokens & NO_WORDS:
        return False
    if tokens & YES_WORDS:
        return True
    return None


class BotBrain:
    """One conversation's bot: what was asked, what was offered, whether it helped."""

    def __init__(self, index: ArticleIndex, lang: str | None) -> None:
        self.index = index
        self.visitor_lang = lang
        self.lang = resolve_lang(lang)
        self._phrases = PHRASES[self.lang]
        self._log: list[_Exchange] = []
        self._awaiting_feedback = False
        self.human_requested = False

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
    ) -> BotReply:
        return BotReply(
            text, kind, self.lang, articles, label=self._say("label"), quick_replies=quick_replies
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

    def greet(self, queue_position: int | None = None, eta_s: float | None = None) -> BotReply:
        """The first message: who the bot is, the visitor's place and wait, how to get a human."""
        parts = [self._say("greet"), *self._queue_text(queue_position, eta_s), self._say("ask")]
        return self._reply("greeting", " ".join(parts))

    def queue_update(self, position: int | None, eta_s: float | None) -> BotReply:
        return self._reply("queue", " ".join(self._queue_text(position, eta_s)))

    def offline_prompt(self) -> BotReply:
        """Nobody will come (no agent online, outside hours): ask for e-mail and message."""
        return self._reply("offline_form", self._say("offline"))

    def decide(self, text: str) -> Decision:
        """What to do with a visitor message; reads state but changes nothing."""
        if is_human_request(text):
            return AskedForHuman()
        if self._awaiting_feedback:
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
        decision = self.decide(text)
        if isinstance(decision, AskedForHuman):
            self.human_requested = True
            self._awaiting_feedback = False
            return [
                self._reply("human_ack", self._say("human_ack")),
                HumanRequested(self.handoff_summary(), now_ms),
            ]
        if isinstance(decision, Feedback):
            self._log[-1].helped = decision.helped
            self._awaiting_feedback = False
            if decision.helped:
                # Solved: offer to end rather than leave them waiting for a person they no
                # longer need (the way to a person stays open, one button away).
                end = QuickReply(self._say("end_chat"), action="end")
                return [self._reply("helped", self._say("helped"), quick_replies=(end,))]
            return [self._reply("not_helped", self._say("not_helped"))]
        if isinstance(decision, Answer):
            a = decision.article
            self._log.append(_Exchange(text, now_ms, "answer", (a,)))
            self._awaiting_feedback = True
            body = f"{self._say('answer')}\n\n{a.title}\n{a.snippet}\n\n{self._say('did_it_help')}"
            return [self._reply("answer", body, (a,), self._yes_no())]
        if isinstance(decision, Offer):
            self._log.append(_Exchange(text, now_ms, "offer", decision.articles))
            self._awaiting_feedback = True
            lines = [f"{i}. {s.title}" for i, s in enumerate(decision.articles, start=1)]
            body = "\n".join([self._say("offer"), *lines, "", self._say("did_any_help")])
            return [self._reply("offer", body, decision.articles, self._yes_no())]
        self._log.append(_Exchange(text, now_ms, "no_answer", ()))
        self._awaiting_feedback = False
        return [self._reply("no_answer", self._say("no_answer"))]

    def handoff_summary(self) -> str:
        """For the agent who takes over (in English, the desk's language)."""
        lines = [f"Bot summary (visitor language: {self.visitor_lang or 'unknown'})"]
        if not self._log:
            lines.append("The visitor asked nothing while waiting.")
        for i, ex in enumerate(self._log, start=1):
            lines.append(f"{i}. Visitor asked: {ex.question.strip()!r}")
            if ex.kind == "no_answer":
                lines.append("   Bot found no article.")
                continue
            verb = "Bot answered with" if ex.kind == "answer" else "Bot offered"
            titles = "; ".join(f"{s.title} [{s.article_id}]" for s in ex.articles)
            lines.append(f"   {verb}: {titles}")
            helped = {True: "yes", False: "no", None: "no reply"}[ex.helped]
            lines.append(f"   Helped: {helped}")
        lines.append(f"Visitor asked for a human: {'yes' if self.human_requested else 'no'}")
        return "\n".join(lines)

    @property
    def exchanges(self) -> int:
        return len(self._log)


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
    "resolve_lang",
]
