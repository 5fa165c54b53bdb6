"""Language analysis for matching: words to lemma terms, sentences to weights.

A word's *terms* are the folded forms it may be indexed under: its lemma (simplemma's
dictionaries, shipped inside the wheel, read with the low-memory backend: about 40 MB for the
six languages instead of 300) and its own surface form, both through ``kb.normalize.fold``, so
"naročila", "narocila" and "naročilo" meet, and so do "заказы" and "заказ".  Lemmas are looked
up on the unfolded word (the dictionaries spell with diacritics); a word typed without them
falls back to its surface form and, in the matcher, to a prefix key.

Stop words come from stopwordsiso plus a short hand list of chat fillers
(``kb.normalize.STOPWORDS``).  stopwordsiso's lists are generous ("order", "problem", "деньги"
are on them), so a word from them is dropped only when the knowledge base does not use it in
a tag: the caller passes that vocabulary.

Long messages are split into sentences (simplemma's splitter); a question or a complaint
weighs most, a story sentence less, and a greeting or sign-off is all stop words anyway.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache

import stopwordsiso
from simplemma.sentences import split_sentences
from simplemma.strategies import DictionaryLookupStrategy
from simplemma.strategies.dictionaries import LOW_MEMORY_DICTIONARY_FACTORY

from kb.article import base_lang
from kb.normalize import STOPWORDS, CyrillicPolicy, cyrillic_policies, fold, serbian_to_latin

# Our language codes to simplemma's; Serbian, Croatian and Bosnian share one dictionary.
LEMMA_LANGS: dict[str, str] = {
    "en": "en",
    "sl": "sl",
    "lt": "lt",
    "ro": "ro",
    "ru": "ru",
    "sr": "hbs",
    "hr": "hbs",
    "bs": "hbs",
    "uk": "uk",
    "bg": "bg",
    "mk": "mk",
}
# Tried for a word its own language does not know (a visitor's language tag is often wrong).
FALLBACK_LANGS: tuple[str, ...] = ("en", "sl", "lt", "ro", "ru", "hbs")
_ISO_LANGS = ("en", "sl", "lt", "ro", "ru", "hr", "uk", "bg")

QUESTION_WEIGHT = 1.0
PROBLEM_WEIGHT = 0.9
STORY_WEIGHT = 0.45

_LOOKUP = DictionaryLookupStrategy(LOW_MEMORY_DICTIONARY_FACTORY)
# Romanian is spelt with comma-below letters in the dictionary; keyboards often give cedillas.
_RO_COMMAS = str.maketrans({"ş": "ș", "ţ": "ț"})
_APOSTROPHES = re.compile("['\u2019\u02bc`\u00b4]")
_LETTER_HYPHEN = re.compile(r"\b(\w)-(?=\w)")
_WORD = re.compile(r"\w+")

ISO_STOPWORDS: frozenset[str] = frozenset(
    f
    for code in _ISO_LANGS
    for w in stopwordsiso.stopwords(code)
    for f in _WORD.findall(fold(w, code))
    if f
)

# Folded words that make a sentence a question even without a "?" (chat rarely has one).
_QUESTION_WORDS = frozenset(
    fold(w, "ru" if any("\u0400" <= c <= "\u04ff" for c in w) else None)
    for w in """
    how where when why what which can could is are do does will would who
    kje kdaj kako zakaj kaj ali koliko lahko kateri
    kur kada kaip kodel ka ar kiek kokia koks galiu galima
    unde cand cum de ce cat pot se poate care
    где когда как почему что сколько можно ли какой какие куда
    gde gdje kada kako zasto sta sto koliko moze mogu da li koji
    """.split()
)
# Folded word starts that say something is wrong: "not", "broken", "error" and kin.
_PROBLEM_STARTS = tuple(
    fold(w, "ru" if any("\u0400" <= c <= "\u04ff" for c in w) else None)
    for w in """
    not no never cannot cant doesnt dont didnt wont isnt hasnt havent problem error broken
    wrong missing damag fail declin stuck
    ne ni nisem nimam nic napak ne deluje pokvar
    ne neveik negal nera neg sugad klaid
    nu nici problem eroare defect
    не нет никак ошибк проблем сломал
    nije nisam nema ne radi greska pokvar
    """.split()
)


# "Where" and "when" tell a tracking question from a cancelling one ("where is my order" /
# "cancel my order"), so they stay words, at a fraction of a topic word's weight.
CUE_WORDS = frozenset(
    fold(w, "ru" if any("\u0400" <= c <= "\u04ff" for c in w) else None)
    for w in "where when kje kdaj kur kada unde când где когда gde gdje kad".split()
)
CUE_FACTOR = 0.5


@dataclass(frozen=True, slots=True)
class Word:
    """One word of a text: the folded forms it may meet an article under, best first."""

    terms: tuple[str, ...]
    surface: str


def lemma_codes(lang: str | None) -> tuple[str, ...]:
    code = LEMMA_LANGS.get(base_lang(lang) or "")
    return (code,) if code else ()


def _prefold(word: str, policy: CyrillicPolicy) -> str:
    if policy == "serbian":
        word = serbian_to_latin(word)
    return word.translate(_RO_COMMAS)


@lru_cache(maxsize=200_000)
def _lemma(word: str, code: str) -> str | None:
    return _LOOKUP.get_lemma(word, code)


@lru_cache(maxsize=200_000)
def word_terms(word: str, codes: tuple[str, ...], fallback: bool) -> Word:
    """``word`` (case-folded, NFKC, in its script) to its terms: lemmas first, then itself.

    With ``fallback``, a word its own language's dictionary lacks is tried in the others.
    """
    surface = fold(word, None, "keep")
    terms: dict[str, None] = {}
    for code in codes:
        lemma = _lemma(word, code)
        if lemma is not None:
            terms[fold(lemma.casefold(), None, "keep")] = None
    if not terms and fallback:
        for code in FALLBACK_LANGS:
            if code not in codes:
                lemma = _lemma(word, code)
                if lemma is not None:
                    terms[fold(lemma.casefold(), None, "keep")] = None
    terms[surface] = None
    return Word(tuple(t for t in terms if t), surface)


def _raw_words(text: str, policy: CyrillicPolicy) -> list[str]:
    s = unicodedata.normalize("NFKC", text).casefold()
    s = _APOSTROPHES.sub("", s)
    s = _LETTER_HYPHEN.sub(r"\1", s)
    return [_prefold(w, policy) for w in _WORD.findall(s)]


def is_stop(word: Word, keep: Collection[str]) -> bool:
    """A filler or function word, unless the knowledge base's tags use it."""
    if len(word.surface) < 2 or word.surface.isdigit():
        return True
    if word.surface in CUE_WORDS:
        return False
    if word.surface in STOPWORDS:
        return True
    if word.surface in ISO_STOPWORDS or word.terms[0] in ISO_STOPWORDS:
        return not any(t in keep for t in word.terms)
    return False


def analyse(
    text: str,
    lang: str | None,
    *,
    fallback: bool = True,
    policies: tuple[CyrillicPolicy, ...] | None = None,
) -> list[Word]:
    """Every word of ``text`` with its terms (stop words included; see ``is_stop``).

    Cyrillic that may be Russian or Serbian (no telling letter, no language tag) is read both
    ways, word by word: each word's terms are the union of both readings.
    """
    codes = lemma_codes(lang)
    if policies is None:
        policies = cyrillic_policies(text, lang)
    readings = [_raw_words(text, p) for p in policies]
    if len(readings) == 1:
        return [word_terms(w, codes, fallback) for w in readings[0]]
    out: list[Word] = []
    for ru_word, sr_word in zip(readings[0], readings[1], strict=True):
        a = word_terms(ru_word, codes or ("ru",), fallback)
        b = word_terms(sr_word, codes or ("hbs",), fallback)
        out.append(Word(tuple(dict.fromkeys(a.terms + b.terms)), a.surface))
    return out


def sentences(text: str, lang: str | None) -> list[str]:
    code = lemma_codes(lang)
    try:
        parts = split_sentences(text, code[0] if code else None)
    except ValueError:
        parts = split_sentences(text)
    return [p for p in parts if p.strip()] or [text]


def sentence_weight(sentence: str, words: list[Word], only: bool) -> float:
    """How much a sentence's words count: a question most, a complaint nearly, a story less."""
    if only:
        return QUESTION_WEIGHT
    if "?" in sentence or any(w.surface in _QUESTION_WORDS for w in words[:3]):
        return QUESTION_WEIGHT
    if any(w.surface.startswith(_PROBLEM_STARTS) for w in words):
        return PROBLEM_WEIGHT
    return STORY_WEIGHT


def weighted_words(text: str, lang: str | None, keep: Collection[str]) -> list[tuple[Word, float]]:
    """The content words of a visitor's text, each once, with its sentence's weight (the
    heaviest sentence it appears in)."""
    parts = sentences(text, lang) if len(text) > 60 else [text]
    policies = cyrillic_policies(text, lang)
    best: dict[Word, float] = {}
    for part in parts:
        ws = analyse(part, lang, policies=policies)
        weight = sentence_weight(part, ws, len(parts) == 1)
        for w in ws:
            got = weight * CUE_FACTOR if w.surface in CUE_WORDS else weight
            if not is_stop(w, keep) and got > best.get(w, 0.0):
                best[w] = got
    return list(best.items())
