from __future__ import annotations

import pytest

from kb.normalize import content_words, cyrillic_policies, fold, fold_variants, serbian_to_latin
from kb.stems import index_keys, query_keys


@pytest.mark.parametrize(
    ("text", "lang", "folded"),
    [
        ("Plačilo s kartico", "sl", "placilo s kartico"),
        ("Mokėjimas kortele, grąžinimas", "lt", "mokejimas kortele, grazinimas"),
        ("Plată, țară, ţară, șapte, şapte", "ro", "plata, tara, tara, sapte, sapte"),
        ("Ещё ЗАКАЗ", "ru", "еще заказ"),
        ("Đorđe", "sr-Latn", "djordje"),
        ("ﬁle ＡＢＣ", None, "file abc"),  # NFKC: ligature and full-width letters
    ],
)
def test_fold_drops_case_and_diacritics_per_language(
    text: str, lang: str | None, folded: str
) -> None:
    assert fold(text, lang) == folded


def test_serbian_cyrillic_and_latin_with_or_without_diacritics_meet() -> None:
    assert fold("ћирилица", "sr-Cyrl") == fold("ćirilica", "sr-Latn") == fold("cirilica", "sr")
    assert fold("Ђорђе", "sr") == fold("Đorđe", "sr") == "djordje"


def test_serbian_digraph_letters_transliterate_to_two_latin_letters() -> None:
    assert fold("љубав њива џеп", "sr-Cyrl") == "ljubav njiva dzep"
    assert serbian_to_latin("Љубав ЊИВА Џеп") == "Ljubav NjIVA Džep"


def test_russian_stays_cyrillic_so_it_cannot_collide_with_latin_words() -> None:
    # "кот" read as Serbian would become "kot", a Slovenian word ("angle").
    assert fold("кот", "ru") == "кот"
    assert cyrillic_policies("заказ", "ru") == ("keep",)


def test_cyrillic_without_a_language_is_read_by_its_letters() -> None:
    assert cyrillic_policies("поруџбина", None) == ("serbian",)
    assert cyrillic_policies("объявление", None) == ("keep",)
    assert fold_variants("како да вратим", None) == ("како да вратим", "kako da vratim")


def test_letter_hyphen_words_join_and_apostrophes_vanish() -> None:
    assert fold("E-mail, don't", "en") == "email, dont"


def test_content_words_drop_stop_words_of_every_language_and_bare_numbers() -> None:
    assert content_words(fold("Kje je moje naročilo 12345?", "sl")) == ["narocilo"]
    assert content_words(fold("Где мой заказ", "ru")) == ["заказ"]
    assert content_words(fold("hello, thanks", "en")) == []


def test_inflected_forms_share_a_prefix_key() -> None:
    forms = ["placilo", "placila", "placilom"]
    shared = set.intersection(*(index_keys(f, short_prefix=False) for f in forms))
    assert "placi" in shared
    assert query_keys("доставку")[0] == ("доста", 1.0)


def test_a_three_letter_query_word_may_stand_for_a_longer_title_word() -> None:
    assert ("<pay", 0.7) in query_keys("pay")
    assert "<pay" in index_keys("payment", short_prefix=True)
    assert "<pay" not in index_keys("payment", short_prefix=False)


def test_fold_drops_combining_marks_on_the_fast_table_and_past_it() -> None:
    # Up to U+2FFF a lookup table drops the marks; text with a later character goes the slow
    # way, and both must fold the same.
    assert fold("e\u0301\u0308 \u1dc0a", None) == "e a"  # marks inside the table's range
    assert fold("ša\ufe20 日本", None) == "sa 日本"  # U+FE20 is a combining mark past it
    assert fold("ša\u20d7 日本", None) == "sa 日本"
    assert fold("x\U0001d165y", None) == "xy"  # a combining mark outside the BMP


def test_ascii_text_folds_as_the_full_rules_would() -> None:
    # ASCII takes a short way; a non-ASCII letter appended sends the same text the full
    # way (NFKC, case folding, the letter tables, NFKD): both must agree on the ASCII part.
    texts = [
        "Hello there, my ORDER #12345 did not arrive",
        "E-mail don't `quoted` it's A-B-C x-",
        "tabs\tand\nnewlines -- 'single' - hyphen-at-end-",
        "",
        "1-2 a-1 _-_ ~!@#$%^&*()",
    ]
    for text in texts:
        for lang in (None, "en", "sr", "ru"):
            assert text.isascii()
            assert fold(text, lang) + " e" == fold(text + " \u00e9", lang), (text, lang)
