"""Whole replies for agents, and a bot that asks with buttons, answers from the same index as
the agents' suggestions and, when an article helped, offers to end rather than queue."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import AGENT_PASSWORD, Backend, seed_agents
from tests.integration.test_bot_and_kb import online_agent, seed_kb
from tests.integration.test_kb_live_updates import cli_import, write_jsonl
from tests.live import LiveServer, connect_visitor, desk_headers

pytestmark = pytest.mark.conformance

LONG_BODY = (
    "Gift cards are sent by e-mail within ten minutes of payment. "
    "Each card is valid for three years from the day it was bought. "
    "A card can be used for several orders until its balance is spent. "
    "Cards cannot be exchanged for cash, and a lost code can be sent again from your account. "
    "If the recipient never got the e-mail, ask them to look in their spam folder first. "
    "Our team can also resend it to another address once we have confirmed the order number. "
    "Corporate orders of more than fifty cards are handled by our sales team, who can print "
    "the cards on paper and post them in a gift envelope at no extra charge."
)
GIFT_CARDS = {
    "id": "gift-cards-en",
    "lang": "en",
    "title": "Gift cards: delivery, validity and balance",
    "body": LONG_BODY,
    "tags": ["gift card", "voucher"],
}
WRAPPING = {
    "id": "gift-wrap-en",
    "lang": "en",
    "title": "Gift wrapping with a handwritten card",
    "body": "We wrap any order in recycled paper. A handwritten card costs nothing extra.",
    "answer": "Yes, we gift-wrap any order for 3 EUR, handwritten card included.",
    "tags": ["gift", "wrapping"],
}


@pytest.fixture
def kb_server(backend: Backend) -> Iterator[LiveServer]:
    settings = backend.settings()
    seed_kb(settings)
    seed_agents(settings, ("ana@example.com", "agent", 5), ("sam@example.com", "supervisor", 5))
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


async def save(server: LiveServer, *articles: dict[str, Any]) -> None:
    headers = await desk_headers(server, "sam@example.com", AGENT_PASSWORD)
    async with httpx.AsyncClient(base_url=server.url, headers=headers) as http:
        for article in articles:
            (await http.post("/api/kb/articles", json=article)).raise_for_status()


async def test_suggestions_carry_a_whole_reply_the_answer_or_whole_sentences(
    kb_server: LiveServer,
) -> None:
    await save(kb_server, GIFT_CARDS, WRAPPING)
    agent = await online_agent(kb_server)
    visitor, _ = await connect_visitor(kb_server, language="en")
    await visitor.recv_type("welcome")
    await visitor.send_text("hello")
    await agent.recv_type("assigned")

    ack = await visitor.send_text("how long is a gift card valid and when is it sent?")
    found = await agent.recv_type("suggestions", for_seq=ack["seq"])
    card = next(i for i in found["items"] if i["article_id"] == "gift-cards-en")
    assert card["snippet"].endswith("…")  # the preview is cut; the reply must not be
    reply = card["reply"]
    assert LONG_BODY.startswith(reply) and reply.endswith(".")
    assert LONG_BODY[len(reply) : len(reply) + 1] in ("", " ")  # ends where a sentence ends
    assert len(reply) > len(card["snippet"])

    ack = await visitor.send_text("can you gift wrap my order with a handwritten card?")
    found = await agent.recv_type("suggestions", for_seq=ack["seq"])
    wrap = next(i for i in found["items"] if i["article_id"] == "gift-wrap-en")
    assert wrap["reply"] == WRAPPING["answer"]

    async with httpx.AsyncClient(base_url=kb_server.url) as http:
        article = (await http.get("/api/kb/articles/gift-wrap-en")).json()
    assert article["answer"] == WRAPPING["answer"] and article["body"] == WRAPPING["body"]


async def test_bot_asks_with_buttons_and_offers_to_end_when_an_article_helped(
    kb_server: LiveServer,
) -> None:
    visitor, _ = await connect_visitor(kb_server, language="en")
    await visitor.recv_type("welcome")
    await visitor.send_text("hi")
    await visitor.recv_type("message", author="bot", bot_kind="greeting")
    await visitor.send_text("How do I reset my password?")
    asked = await visitor.recv_until(
        lambda f: f.get("author") == "bot" and f.get("bot_kind") in ("answer", "offer")
    )
    assert "(yes/no)" not in asked["text"]
    assert asked["quick_replies"] == [
        {"label": "Yes", "action": "reply", "text": "Yes"},
        {"label": "No", "action": "reply", "text": "No"},
    ]
    # The visitor presses "Yes": the widget sends the button's text.
    await visitor.send_text(asked["quick_replies"][0]["text"])
    helped = await visitor.recv_type("message", author="bot", bot_kind="helped")
    assert {"label": "End chat", "action": "end"} in helped["quick_replies"]
    assert "end the chat" in helped["text"]
    await visitor.send({"type": "close", "conversation_id": helped["conversation_id"]})
    closed = await visitor.recv_type("event", event="closed")
    assert closed["data"]["by"] == "visitor"


@pytest.mark.parametrize("lang", ["sr-Latn", "sr-Cyrl", "ru"])
async def test_bot_buttons_speak_the_visitors_language(kb_server: LiveServer, lang: str) -> None:
    visitor, _ = await connect_visitor(kb_server, language=lang)
    await visitor.recv_type("welcome")
    await visitor.send_text("zaboravio sam lozinku" if lang.startswith("sr") else "забыл пароль")
    asked = await visitor.recv_until(
        lambda f: f.get("author") == "bot" and f.get("bot_kind") in ("answer", "offer")
    )
    labels = [q["label"] for q in asked["quick_replies"]]
    assert labels == {"sr-Latn": ["Da", "Ne"], "sr-Cyrl": ["Да", "Не"], "ru": ["Да", "Нет"]}[lang]
    await visitor.send_text(labels[0])
    helped = await visitor.recv_type("message", author="bot", bot_kind="helped")
    assert helped["quick_replies"][0]["action"] == "end"


async def test_the_bot_answers_from_an_article_imported_into_the_running_hub(
    kb_server: LiveServer, backend: Backend, tmp_path: Path
) -> None:
    """One index for the bot and the agents, kept in step with the store while running."""
    source = write_jsonl(tmp_path / "wrap.jsonl", WRAPPING)
    await asyncio.to_thread(
        cli_import, kb_server.settings.server.database_url, backend.redis_url, source
    )
    question = "Can you gift wrap my order with a handwritten card?"

    async def bot_offers_it() -> bool:
        visitor, _ = await connect_visitor(kb_server, language="en")
        await visitor.recv_type("welcome")
        await visitor.send_text(question)
        said = await visitor.recv_until(
            lambda f: (
                f.get("author") == "bot" and f.get("bot_kind") in ("answer", "offer", "no_answer")
            )
        )
        # Ended, so that the agent below is given only the chat the test is about.
        await visitor.send({"type": "close", "conversation_id": said["conversation_id"]})
        await visitor.recv_type("event", event="closed")
        await visitor.close()
        return any(a["id"] == "gift-wrap-en" for a in said.get("articles", ()))

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not await bot_offers_it():
        assert loop.time() < deadline, "the bot never offered the imported article"

    agent = await online_agent(kb_server)
    visitor, _ = await connect_visitor(kb_server, language="en")
    await visitor.recv_type("welcome")
    await visitor.send_text("hello")
    await agent.recv_type("assigned")
    ack = await visitor.send_text(question)
    found = await agent.recv_type("suggestions", for_seq=ack["seq"])
    assert found["items"][0]["article_id"] == "gift-wrap-en"


async def test_welcome_tells_the_visitor_how_soon_a_person_replies(kb_server: LiveServer) -> None:
    visitor, _ = await connect_visitor(kb_server, language="en")
    assert (await visitor.recv_type("welcome"))["reply_eta_s"] is None  # nobody online
    await online_agent(kb_server)
    later, _ = await connect_visitor(kb_server, language="en")
    assert (await later.recv_type("welcome"))["reply_eta_s"] == 0  # a free slot now


async def test_help_view_lists_top_articles_in_the_visitors_language(
    kb_server: LiveServer,
) -> None:
    await save(kb_server, GIFT_CARDS)
    async with httpx.AsyncClient(base_url=kb_server.url) as http:
        (await http.get("/api/kb/articles/gift-cards-en")).raise_for_status()  # read once
        top = (await http.get("/api/kb/top", params={"lang": "en", "limit": 3})).json()
        ru = (await http.get("/api/kb/top", params={"lang": "ru"})).json()
    assert top["results"][0]["id"] == "gift-cards-en"  # the most read comes first
    assert len(top["results"]) == 3 and all(r["lang"] == "en" for r in top["results"])
    assert top["results"][0]["snippet"].endswith(".")
    assert ru["results"] and all(r["lang"] == "ru" for r in ru["results"])
