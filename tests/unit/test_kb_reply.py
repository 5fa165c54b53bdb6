"""The reply Insert puts into an agent's composer: whole sentences, or the article's answer."""

from __future__ import annotations

from kb.article import Article
from kb.reply import sentences, whole_reply

BODY = (
    "Orders placed on a working day before 14:00 leave our warehouse the same day. "
    "Delivery within the EU usually takes approx. 2–4 working days. "
    "Standard shipping costs 4.90 € and is free for orders over 50 €.\n\n"
    "Express delivery (next working day) costs 9.90 € and is available for most addresses."
)


def test_a_long_body_is_cut_after_a_whole_sentence() -> None:
    reply = whole_reply(Article("a", "en", "Shipping", BODY), max_chars=160)
    assert reply == (
        "Orders placed on a working day before 14:00 leave our warehouse the same day. "
        "Delivery within the EU usually takes approx. 2–4 working days."
    )


def test_paragraphs_that_fit_keep_their_break() -> None:
    assert whole_reply(Article("a", "en", "Shipping", BODY), max_chars=2000) == BODY


def test_the_first_sentence_is_whole_even_when_longer_than_the_limit() -> None:
    assert whole_reply(Article("a", "en", "t", BODY), max_chars=10).endswith("the same day.")


def test_a_written_answer_wins_over_the_body() -> None:
    article = Article("a", "en", "t", BODY, answer="  Within 2–4 days; free over 50 €.  ")
    assert whole_reply(article) == "Within 2–4 days; free over 50 €."


def test_sentences_in_cyrillic_and_with_quotes() -> None:
    assert sentences("Заказ придёт завтра. «Экспресс» стоит 9 €! Да.") == [
        "Заказ придёт завтра.",
        "«Экспресс» стоит 9 €!",
        "Да.",
    ]
