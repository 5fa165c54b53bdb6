from __future__ import annotations

from pathlib import Path

import pytest

from chatserver.bot.brain import (
    BotBrain,
    BotReply,
    HumanRequested,
    feedback_of,
    is_human_request,
    resolve_lang,
)
from chatserver.bot.phrases import LANGS, PHRASES, folded_phrase_check, plural_category
from kb.io import read_jsonl
from kb.matcher import KnowledgeIndex

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(scope="module")
def index() -> KnowledgeIndex:
    return KnowledgeIndex(read_jsonl(DATA / "kb_articles.jsonl"))


@pytest.mark.parametrize(
    ("lang", "counts"),
    [
        ("en", {1: "one", 2: "other", 0: "other"}),
        ("sl", {1: "one", 2: "two", 3: "few", 4: "few", 5: "other", 101: "one", 102: "two"}),
        ("lt", {1: "one", 2: "few", 9: "few", 10: "other", 11: "other", 21: "one", 22: "few"}),
        ("ro", {1: "one", 2: "few", 19: "few", 20: "other", 101: "few", 0: "few"}),
        ("ru", {1: "one", 3: "few", 5: "many", 11: "many", 21: "one", 22: "few", 25: "many"}),
        ("sr-Latn", {1: "one", 4: "few", 5: "other", 12: "other", 21: "one"}),
    ],
)
def test_plural_categories_follow_each_language(lang: str, counts: dict[int, str]) -> None:
    assert {n: plural_category(lang, n) for n in counts} == counts


def test_every_language_has_every_phrase_and_every_plural_form() -> None:
    keys = set(PHRASES["en"])
    for lang in LANGS:
        assert set(PHRASES[lang]) == keys, lang
        for key, phrase in PHRASES[lang].items():
            if isinstance(phrase, dict):
                for n in range(0, 130):
                    assert plural_category(lang, n) in phrase, (lang, key, n)


def test_recogniser_words_are_stored_folded() -> None:
    assert folded_phrase_check() == []


@pytest.mark.parametrize(
    ("lang", "position", "eta_s", "expected"),
    [
        ("ru", 6, 300, "Перед вами в очереди 5 человек. Примерное время ожидания — 5 минут."),
        ("ru", 3, 120, "Перед вами в очереди 2 человека. Примерное время ожидания — 2 минуты."),
        (
            "sl",
            3,
            120,
            "Pred vami sta v vrsti 2 osebi. Predvideni čas čakanja je približno 2 minuti.",
        ),
        ("lt", 22, 60, "Prieš jus eilėje yra 21 žmogus. Numatomas laukimo laikas – apie 1 minutę."),
        ("sr-Cyrl", 5, 240, "Испред вас су 4 особе. Очекивано време чекања је око 4 минута."),
        (
            "ro",
            21,
            1200,
            "În fața dvs. se află 20 de persoane. Timpul estimat de așteptare este de aproximativ 20 de minute.",
        ),
        (
            "en",
            1,
            30,
            "You are next in the queue. Someone from our team should be with you in less than a minute.",
        ),
    ],
)
def test_queue_update_uses_the_right_plural(
    index: KnowledgeIndex, lang: str, position: int, eta_s: int, expected: str
) -> None:
    reply = BotBrain(index, lang).queue_update(position, eta_s)
    assert reply.text == expected
    assert reply.kind == "queue" and reply.author == "bot"


def test_greeting_says_it_is_a_bot_in_the_visitors_language(index: KnowledgeIndex) -> None:
    greeting = BotBrain(index, "sl-SI").greet(queue_position=2, eta_s=90)
    assert greeting.kind == "greeting" and greeting.author == "bot" and greeting.lang == "sl"
    assert "bot" in greeting.text and "ne človek" in greeting.text
    assert "Pred vami je v vrsti 1 oseba." in greeting.text


def test_confident_match_answers_with_the_article(index: KnowledgeIndex) -> None:
    [reply] = BotBrain(index, "ru").on_visitor_message("промокод не работает", 1)
    assert isinstance(reply, BotReply) and reply.kind == "answer"
    assert [a.article_id for a in reply.articles] == ["discount-code-ru"]
    assert "Промокод не работает" in reply.text


def test_unsure_match_offers_up_to_three(index: KnowledgeIndex) -> None:
    [reply] = BotBrain(index, "sr-Latn").on_visitor_message("da li mogu da platim karticom")
    assert isinstance(reply, BotReply) and reply.kind == "offer"
    assert 2 <= len(reply.articles) <= 3
    assert "payment-methods-sr-cyrl" in [a.article_id for a in reply.articles]


def test_unknown_question_gets_no_answer(index: KnowledgeIndex) -> None:
    [reply] = BotBrain(index, "en").on_visitor_message("does the tv support hdmi 2.1")
    assert isinstance(reply, BotReply) and reply.kind == "no_answer" and reply.articles == ()


@pytest.mark.parametrize(
    "text",
    [
        "I want to talk to a human",
        "agent please",
        "Lahko dobim človeka?",
        "noriu kalbėti su operatoriumi",
        "vreau un operator",
        "позовите живого человека",
        "оператор",
        "hoću čoveka",
        "хоћу човека",
        "real person pls",
    ],
)
def test_asking_for_a_person_is_recognised_in_every_language(text: str) -> None:
    assert is_human_request(text)


@pytest.mark.parametrize(
    "text", ["personal data deletion", "operation failed", "where is my order"]
)
def test_ordinary_questions_are_not_requests_for_a_person(text: str) -> None:
    assert not is_human_request(text)


@pytest.mark.parametrize(
    ("text", "helped"),
    [
        ("yes thanks", True),
        ("da, hvala", True),
        ("taip", True),
        ("да, помогло", True),
        ("nu", False),
        ("ne", False),
        ("нет", False),
        ("не помогло", False),
        ("nije pomoglo", False),
        ("hmm", None),
        ("no, but how do I change the delivery address for my order please", None),
    ],
)
def test_feedback_recognisers(text: str, helped: bool | None) -> None:
    assert feedback_of(text) is helped


def test_handoff_summary_has_questions_offers_and_feedback(index: KnowledgeIndex) -> None:
    brain = BotBrain(index, "sl")
    brain.on_visitor_message("koda za popust mi ne deluje", 1000)
    [sorry] = brain.on_visitor_message("ne", 2000)
    assert isinstance(sorry, BotReply) and sorry.kind == "not_helped"
    ack, handoff = brain.on_visitor_message("želim govoriti s človekom", 3000)
    assert isinstance(ack, BotReply) and ack.kind == "human_ack"
    assert isinstance(handoff, HumanRequested) and handoff.at_ms == 3000
    assert "'koda za popust mi ne deluje'" in handoff.summary
    assert "[discount-code-sl]" in handoff.summary
    assert "Helped: no" in handoff.summary
    assert handoff.summary.endswith("Visitor asked for a human: yes")


def test_yes_after_an_answer_is_thanked_and_recorded(index: KnowledgeIndex) -> None:
    brain = BotBrain(index, "en")
    brain.on_visitor_message("forgot password")
    [reply] = brain.on_visitor_message("yes thanks")
    assert isinstance(reply, BotReply) and reply.kind == "helped"
    assert "Helped: yes" in brain.handoff_summary()


def test_yes_without_an_offer_is_not_feedback(index: KnowledgeIndex) -> None:
    [reply] = BotBrain(index, "en").on_visitor_message("yes")
    assert isinstance(reply, BotReply) and reply.kind == "no_answer"


def test_offline_prompt_asks_for_email_in_the_visitors_script(index: KnowledgeIndex) -> None:
    reply = BotBrain(index, "sr-Cyrl").offline_prompt()
    assert reply.kind == "offline_form" and reply.author == "bot" and reply.label == "Бот"
    assert "имејл" in reply.text


def test_every_reply_is_the_bots(index: KnowledgeIndex) -> None:
    brain = BotBrain(index, "lt")
    replies = [brain.greet(4, 600), brain.queue_update(3, 400), brain.offline_prompt()]
    for text in [
        "kur mano uzsakymas",
        "ne",
        "kaip prijungti kolonėlę per bluetooth",
        "noriu operatoriaus",
    ]:
        replies.extend(r for r in brain.on_visitor_message(text) if isinstance(r, BotReply))
    assert len(replies) >= 7
    assert {r.author for r in replies} == {"bot"} and {r.label for r in replies} == {"Botas"}


@pytest.mark.parametrize(
    ("tag", "lang"),
    [
        ("sr", "sr-Latn"),
        ("sr-Cyrl", "sr-Cyrl"),
        ("sr_RS_Cyrl", "sr-Cyrl"),
        ("sl-SI", "sl"),
        ("de", "en"),
        (None, "en"),
    ],
)
def test_language_tags_resolve_to_a_phrase_table(tag: str | None, lang: str) -> None:
    assert resolve_lang(tag) == lang


@pytest.mark.parametrize("lang", LANGS)
def test_yes_no_buttons_are_read_as_feedback_in_every_language(lang: str) -> None:
    """A pressed button sends its label: the bot must read it as the typed word."""
    yes, no = PHRASES[lang]["yes"], PHRASES[lang]["no"]
    assert isinstance(yes, str) and isinstance(no, str)
    assert feedback_of(yes) is True and feedback_of(no) is False
    assert "(" not in str(PHRASES[lang]["did_it_help"]) + str(PHRASES[lang]["did_any_help"])


@pytest.mark.parametrize(
    ("lang", "question"),
    [("en", "forgot password"), ("sl", "pozabil sem geslo"), ("ru", "забыл пароль")],
)
def test_a_helpful_answer_is_followed_by_an_offer_to_end(
    index: KnowledgeIndex, lang: str, question: str
) -> None:
    brain = BotBrain(index, lang)
    [asked] = brain.on_visitor_message(question)
    assert isinstance(asked, BotReply) and asked.kind in ("answer", "offer")
    labels = [q.label for q in asked.quick_replies]
    assert labels == [PHRASES[lang]["yes"], PHRASES[lang]["no"]]
    [helped] = brain.on_visitor_message(asked.quick_replies[0].text)
    assert isinstance(helped, BotReply) and helped.kind == "helped"
    assert [(q.action, q.label) for q in helped.quick_replies] == [
        ("end", PHRASES[lang]["end_chat"])
    ]


def test_queue_and_bot_lines_use_no_gendered_forms_for_the_visitor_or_the_bot() -> None:
    """ "Вы следующий", "Vi ste sledeći", "нашёл", "pronašao" assume a man on either side."""
    gendered = {
        "ru": ("следующий", "нашёл", "рад,", "рад "),
        "sr-Latn": ("sledeći", "pronašao"),
        "sl": ("naslednji", "našel", "vesel sem", "predal"),
        "lt": ("esate kitas",),
        "ro": ("următorul",),
    }
    for lang, words in gendered.items():
        text = " ".join(str(v) for v in PHRASES[lang].values()).lower()
        assert not [w for w in words if w in text], lang
