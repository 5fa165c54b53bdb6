from __future__ import annotations

from kb.article import Article
from kb.matcher import KnowledgeIndex

RETURNS_EN = Article(
    "ret-en", "en", "Returning a product", "Send the product back within 30 days.", ("returns",)
)
RETURNS_SL = Article(
    "ret-sl", "sl", "Vračilo izdelka", "Izdelek lahko vrnete v 30 dneh.", ("vračilo",)
)
PAY_SR = Article("pay-sr", "sr-Cyrl", "Плаћање поузећем", "Платите куриру готовином.", ("поузеће",))
PAY_RU = Article("pay-ru", "ru", "Оплата при получении", "Заплатите курьеру наличными.", ())
PASSWORD = Article(
    "pw-en", "en", "I forgot my password", "Click Forgot password on the sign-in page.", ("login",)
)


def index() -> KnowledgeIndex:
    return KnowledgeIndex([RETURNS_EN, RETURNS_SL, PAY_SR, PAY_RU, PASSWORD])


def test_visitor_language_wins_between_translations() -> None:
    assert index().suggest("vracilo izdelka", "sl")[0].article_id == "ret-sl"
    assert index().suggest("returning a product", "en")[0].article_id == "ret-en"


def test_latin_without_diacritics_finds_a_serbian_cyrillic_article() -> None:
    best = index().best("placanje pouzecem", "sr-Latn")
    assert best is not None and best.article_id == "pay-sr"
    assert best.title == "Плаћање поузећем"  # the original is kept for display


def test_russian_query_does_not_meet_serbian_latin_keys() -> None:
    [top, *_] = index().suggest("оплата курьеру", "ru")
    assert top.article_id == "pay-ru"
    assert all(
        s.article_id != "pay-sr" or s.score < top.score
        for s in index().suggest("оплата курьеру", "ru")
    )


def test_one_typo_still_finds_the_article() -> None:
    assert index().suggest("pasword", "en")[0].article_id == "pw-en"


def test_inflected_form_finds_the_article() -> None:
    assert index().suggest("vrnil bi izdelke", "sl")[0].article_id == "ret-sl"


def test_unrelated_text_gets_no_answer() -> None:
    assert index().suggest("does the tv support hdmi", "en") == []
    assert index().best("does the tv support hdmi", "en") is None


def test_greetings_alone_suggest_nothing() -> None:
    assert index().suggest("hello, thanks", "en") == []


def test_scores_are_within_zero_and_one_and_sorted() -> None:
    found = index().suggest("return product password", None, limit=5)
    scores = [s.score for s in found]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_upsert_replaces_an_article_without_a_rebuild() -> None:
    idx = index()
    idx.upsert(
        Article("pw-en", "en", "Two-step verification code", "Use the authenticator app.", ())
    )
    assert len(idx) == 5
    assert all(s.article_id != "pw-en" for s in idx.suggest("forgot password", "en"))
    assert idx.suggest("verification code", "en")[0].article_id == "pw-en"


def test_remove_forgets_the_article_and_its_keys() -> None:
    idx = index()
    assert idx.remove("pw-en") is True
    assert idx.remove("pw-en") is False
    assert "pw-en" not in idx
    assert idx.suggest("pasword", "en") == []


def test_best_declines_when_two_articles_in_the_language_tie() -> None:
    twins = KnowledgeIndex(
        [
            Article("a", "en", "Parcel delivery", "Delivery of a parcel.", ()),
            Article("b", "en", "Parcel delivery", "Delivery of the parcel.", ()),
        ]
    )
    assert len(twins.suggest("parcel delivery", "en")) == 2
    assert twins.best("parcel delivery", "en") is None


def test_full_matches_in_another_language_do_not_crowd_out_the_visitors() -> None:
    foreign = [Article(f"f{i:02d}", "sl", "Parcel delivery", "", ()) for i in range(40)]
    own = [Article(f"o{i:02d}", "en", "Parcel delivery", "", ()) for i in range(35)]
    found = KnowledgeIndex(foreign + own).suggest("parcel delivery", "en")
    assert [s.article_id for s in found] == ["o00", "o01", "o02"]


def test_a_few_full_matches_do_not_hide_the_near_ones() -> None:
    # Each word is in 35 titles but both only in 10, fewer than the rerank shortlist holds: the
    # articles with one of the words in the body still make the list after those 10.
    full = [Article(f"full{i:02d}", "en", "Parcel delivery", "", ()) for i in range(10)]
    near = [Article(f"near{i:02d}", "en", "Parcel", "By delivery.", ()) for i in range(25)]
    near += [Article(f"near{i:02d}", "en", "Delivery", "Of a parcel.", ()) for i in range(25, 50)]
    found = KnowledgeIndex(full + near).suggest("parcel delivery", "en", limit=20)
    assert [s.article_id for s in found[:10]] == [a.id for a in full]
    assert len(found) == 20
