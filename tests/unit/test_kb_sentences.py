"""The matcher on messages as customers write them: inflections, stories, greetings, scripts."""

from __future__ import annotations

from kb.analyze import analyse, weighted_words
from kb.article import Article
from kb.matcher import KnowledgeIndex

ARTICLES = [
    Article(
        "track-sl",
        "sl",
        "Kje je moje naročilo? Sledenje paketu",
        "Ko paket zapusti skladišče, vam pošljemo številko za sledenje.",
        ("sledenje", "paket"),
    ),
    Article(
        "returns-sl",
        "sl",
        "Vračilo izdelka v 30 dneh",
        "Izdelek lahko vrnete v 30 dneh brez navedbe razloga.",
        ("vračilo",),
    ),
    Article(
        "track-ru",
        "ru",
        "Где мой заказ? Отслеживание посылки",
        "Когда посылка покидает склад, мы присылаем номер для отслеживания.",
        ("отслеживание",),
    ),
    Article(
        "password-en",
        "en",
        "I forgot my password",
        "On the sign-in page click Forgot password and we e-mail you a link.",
        ("password", "login"),
    ),
    Article(
        "shipping-en",
        "en",
        "How long does delivery take and how much does shipping cost?",
        "Delivery within the EU takes 2-4 working days. Shipping is free over 50 EUR.",
        ("shipping", "delivery"),
    ),
    Article(
        "cod-sr",
        "sr-Cyrl",
        "Плаћање поузећем",
        "Платите куриру готовином када пакет стигне.",
        ("поузеће",),
    ),
]


def index() -> KnowledgeIndex:
    return KnowledgeIndex(ARTICLES)


def test_inflected_forms_meet_on_one_lemma() -> None:
    # "naročil" is also a form of the verb "naročiti": the lemma they share is among its terms.
    sl = [set(analyse(form, "sl")[0].terms) for form in ("naročilo", "naročila", "naročil")]
    ru = [set(analyse(form, "ru")[0].terms) for form in ("заказ", "заказа", "заказы")]
    assert set.intersection(*sl) == {"narocilo"}
    assert set.intersection(*ru) == {"заказ"}


def test_a_word_typed_without_diacritics_still_finds_its_article() -> None:
    assert index().suggest("kje je moje narocilo", "sl")[0].article_id == "track-sl"


def test_a_long_story_finds_the_question_inside_it() -> None:
    story = (
        "Pozdravljeni! V ponedeljek sem pri vas kupila zimsko jakno. Na strani je pisalo, da bo "
        "odposlana naslednji dan. Danes je petek in še vedno nič. Kje je moje naročilo? "
        "Hvala, Maja"
    )
    assert index().suggest(story, "sl")[0].article_id == "track-sl"


def test_the_same_question_is_found_in_russian() -> None:
    found = index().suggest("Здравствуйте, где мой заказ? Жду уже неделю.", "ru")
    assert found and found[0].article_id == "track-ru"


def test_greetings_and_sign_offs_carry_no_weight() -> None:
    weighted = weighted_words("Hello! Thank you, best regards", "en", set())
    assert weighted == []
    assert index().suggest("Hello, thank you very much, kind regards", "en") == []


def test_a_question_sentence_weighs_more_than_the_story_around_it() -> None:
    text = "I bought a jacket last week. The delivery was fine. Where do I reset my password?"
    weights = {w.surface: weight for w, weight in weighted_words(text, "en", set())}
    assert weights["password"] > weights["jacket"]
    assert index().suggest(text, "en")[0].article_id == "password-en"


def test_an_unrelated_question_gets_no_answer() -> None:
    assert index().suggest("can you recommend a good laptop for gaming", "en") == []
    assert index().best("do you sell gift cards for birthdays", "en") is None


def test_serbian_latin_without_diacritics_finds_a_cyrillic_article() -> None:
    found = index().suggest("da li mogu da platim pouzecem kad paket stigne", "sr-Latn")
    assert found and found[0].article_id == "cod-sr"
    assert found[0].title == "Плаћање поузећем"


def test_a_chat_sentence_about_shipping_costs_finds_the_shipping_article() -> None:
    found = index().suggest("what does shipping to Germany cost, and how long is delivery?", "en")
    assert found and found[0].article_id == "shipping-en"
