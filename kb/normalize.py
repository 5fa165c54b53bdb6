"""Text folding for matching across languages and scripts.

Everything here works on the *match form* of a text; the original is always kept for display.
The rules, in order: NFKC, case folding, Serbian Cyrillic to Latin (only where the text is
Serbian, so Russian words never collide with unrelated Latin ones), letters without a
decomposition (đ→dj, ł→l, ø→o …), then every combining mark dropped (č→c, ș/ş→s, ą→a, ё→е).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from kb.article import base_lang

CyrillicPolicy = Literal["keep", "serbian"]

# Lower case only: folding runs after casefold().  Serbian Latin spelling, diacritics and all,
# so that the diacritics pass below treats "ћ" and a typed "ć" the same way.
_SERBIAN_CYR_TO_LAT: dict[str, str] = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "ђ": "đ", "е": "e", "ж": "ž",
    "з": "z", "и": "i", "ј": "j", "к": "k", "л": "l", "љ": "lj", "м": "m", "н": "n",
    "њ": "nj", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "ћ": "ć", "у": "u",
    "ф": "f", "х": "h", "ц": "c", "ч": "č", "џ": "dž", "ш": "š",
}  # fmt: skip
_SERBIAN_TABLE = str.maketrans(_SERBIAN_CYR_TO_LAT)

# Letters that NFKD does not split into base + mark.  Serbs without a Serbian keyboard type
# "dj" for đ, so that is the key form (and "ђ" arrives here as "đ").
_UNDECOMPOSABLE = str.maketrans(
    {"đ": "dj", "ð": "d", "ł": "l", "ø": "o", "æ": "ae", "œ": "oe", "ħ": "h", "ı": "i", "þ": "th"}
)

# Combining marks (canonical combining class > 0) to nothing, for str.translate, over the
# first 12,288 code points: Latin, Greek, Cyrillic, their marks, punctuation, currency signs.
# Text with a character past that goes the slow way, one character at a time.
_TABLE_END = "\u3000"
_DROP_MARKS: dict[int, int | None] = {
    code: None if unicodedata.combining(chr(code)) else code for code in range(ord(_TABLE_END))
}

_SERBIAN_ONLY_CYRILLIC = frozenset("ђјљњћџ")
_RUSSIAN_ONLY_CYRILLIC = frozenset("ыэъёщйь")
_CYRILLIC_KEEP_LANGS = frozenset({"ru", "uk", "be", "bg", "kk", "ky", "tg", "mn"})
_CYRILLIC = re.compile("[\u0400-\u04ff]")
_APOSTROPHES = re.compile("['\u2019\u02bc`\u00b4]")
# "e-mail", "e-pošta", "e-paštas" are one word; Romanian "s-a" joins into a stop word anyway.
_LETTER_HYPHEN = re.compile(r"\b(\w)-(?=\w)")
_WORD = re.compile(r"\w+")


def serbian_to_latin(text: str) -> str:
    """Serbian Cyrillic to Serbian Latin, keeping case (``Љубав`` → ``Ljubav``); for display."""
    out: list[str] = []
    for ch in text:
        low = ch.lower()
        lat = _SERBIAN_CYR_TO_LAT.get(low)
        if lat is None:
            out.append(ch)
        elif ch == low:
            out.append(lat)
        else:
            out.append(lat[0].upper() + lat[1:])
    return "".join(out)


def has_cyrillic(text: str) -> bool:
    return _CYRILLIC.search(text) is not None


def cyrillic_policies(text: str, lang: str | None) -> tuple[CyrillicPolicy, ...]:
    """How to read Cyrillic in ``text``: as Serbian (to Latin), as Russian-like (kept), or both.

    A visitor's language tag is trusted first; without one the letters decide, and a text that
    could be either (no ђ/љ/ы/э …) is read both ways so it can meet either kind of article.
    """
    base = base_lang(lang)
    if base == "sr":
        return ("serbian",)
    if base in _CYRILLIC_KEEP_LANGS or not has_cyrillic(text):
        return ("keep",)
    letters = set(text.casefold())
    if letters & _SERBIAN_ONLY_CYRILLIC:
        return ("serbian",)
    if letters & _RUSSIAN_ONLY_CYRILLIC:
        return ("keep",)
    return ("keep", "serbian")


def fold(text: str, lang: str | None = None, policy: CyrillicPolicy | None = None) -> str:
    """The match form of ``text``: one script per language, no case, no diacritics."""
    if text.isascii():
        # Every message is folded for the index: in ASCII the normal forms, case folding
        # and the letter tables change nothing but the case, and the two patterns below
        # have nothing to do without their characters.
        s = text.lower()
        if "'" in s or "`" in s:
            s = _APOSTROPHES.sub("", s)
        return _LETTER_HYPHEN.sub(r"\1", s) if "-" in s else s
    if policy is None:
        policy = cyrillic_policies(text, lang)[0]
    s = unicodedata.normalize("NFKC", text).casefold()
    if policy == "serbian":
        s = s.translate(_SERBIAN_TABLE)
    s = s.translate(_UNDECOMPOSABLE)
    s = unicodedata.normalize("NFKD", s)
    if not s.isascii():
        if max(s) < _TABLE_END:
            s = s.translate(_DROP_MARKS)
        else:
            s = "".join(c for c in s if not unicodedata.combining(c))
    s = _APOSTROPHES.sub("", s)
    return _LETTER_HYPHEN.sub(r"\1", s)


def fold_variants(text: str, lang: str | None = None) -> tuple[str, ...]:
    return tuple(fold(text, lang, p) for p in cyrillic_policies(text, lang))


def words(folded: str) -> list[str]:
    """All word tokens of a folded text, stop words included (for display-free comparisons)."""
    return _WORD.findall(folded)


def content_words(folded: str) -> list[str]:
    """Word tokens that carry meaning: stop words and chat fillers of every language dropped."""
    # Bare numbers are order numbers and amounts far more often than topics.
    return [
        w for w in _WORD.findall(folded) if len(w) > 1 and w not in STOPWORDS and not w.isdigit()
    ]


# Function words and chat fillers, in folded form.  One union for all languages, because a
# visitor's language tag is often wrong; words that are content in another language ("sale",
# "cont", "dan" as a noun…) were left out on purpose.
_STOP_EN = """
a an the i me my mine we our us you your it its is are was were be been being am do does did
done to of in on at for from by with about as into onto than then and or but if so not no nor
can could would should will shall may might must have has had get got how what when where why
which who whom whose this that these those there here any some all just also too very please
pls plz hi hello hey thanks thank thx ok okay want wanted need like im ive id dont cant doesnt
didnt isnt wont help u ur yes yeah something anything know tell way still again one
"""
_STOP_SL = """
in na v z s je so sem si smo ste bo bom bos bomo boste bodo bi da ne ali pa ki za od do po pri
iz o k h se me mi mu jo ga jih to ta te tega tem tej kaj kako kje kdaj zakaj kateri katera
katero moj moja moje mojo mojega moji mojih vas vasa vase vaso lahko rad rada zelim zelel zelela
hvala pozdravljeni zivjo zdravo prosim lep pozdrav dober tudi samo ze kot ko ker ampak nisem ni
imam imate mam kva kje ce sploh nekaj kaksen kaksna kaksno koliko tak taka
"""
_STOP_LT = """
as tu jis ji mes jus mano jusu savo yra buvo bus ar ir bet o kad kaip kur kas kada kodel kuris
kuri kokia koks kokie kokios ka kam su be is i prie per apie po nuo iki del uz ne nera taip
labas laba diena sveiki aciu prasau noriu noreciau galiu galima galite man mane mums jau dar tik
labai cia tai tas ta sis si sita kiek mano mano jums jus
"""
_STOP_RO = """
si sa se in la de pe cu din pentru ca ce cum unde cand care cine este e sunt am ai are au a o
un una unei unui al ale lui nu da mai meu mea mei mele tau dvs dumneavoastra va ma imi mi eu tu
el ea noi voi ei ele acest aceasta asta acesta poate pot puteti vreau as dori doresc buna ziua
salut multumesc rog fost fi doar sau dar daca cat cate prin spre nici iar fie
"""
_STOP_RU = """
и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только ее мне
было вот от меня еще нет о из ему теперь когда даже ну ли если уже или ни быть был него до вас
нибудь уж вам ведь там потом себя ничего ей может они тут где есть надо для мы тебя их чем была
сам чтоб без чего раз тоже себе под будет ж тогда кто этот того потому этого какои совсем ним
здесь этом почти мои моя мое моего мою моим тем чтобы нее сеичас были куда зачем всех можно при
об хоть после над тот через эти нас про всего них какая разве эту впрочем хорошо свою этои перед
том нельзя такои им более всегда конечно всю здравствуите привет добрыи день пожалуиста спасибо
хочу хотел хотела могу подскажите скажите ваш ваша ваше вашем вашего как какие какой каком
"""
_STOP_SR = """
i u na za je su sam si smo ste bi bih da ne ili ali a pa od do po pri iz o k sa s se me mi mu ga
ih to ta taj te sta sto kako gde gdje kada kad zasto koji koja koje moj moja moje moju mog mojoj
vas vasa vase vasu moze mogu mozete hocu zelim hvala zdravo pozdrav dobar dan molim li jos vec
samo takodje kao jer nisam nije imam imate ima treba trebam nesto
"""
STOPWORDS: frozenset[str] = frozenset(
    fold(w, "ru" if has_cyrillic(w) else None)
    for block in (_STOP_EN, _STOP_SL, _STOP_LT, _STOP_RO, _STOP_RU, _STOP_SR)
    for w in block.split()
)
