"""Light stemming by prefixes, so inflected forms meet without a stemmer per language.

Slovenian, Lithuanian, Romanian, Russian and Serbian inflect mostly at the end of a word, so the
first five letters of a folded word ("placilo", "placila", "placilom" → "placi") are a good key,
the first four a weaker one, and a three-letter query word ("pay") may stand for any longer word
it begins (title and tags only, where that guess is cheap to be right about).
"""

from __future__ import annotations

PRIMARY_LEN = 5
SECONDARY_LEN = 4
SHORT_MARK = "<"

# How much a query word is worth when it meets an article only through a weaker key.
SECONDARY_QUALITY = 0.75
SHORT_PREFIX_QUALITY = 0.7
FUZZY_QUALITY = 0.8


def primary_key(word: str) -> str:
    return word[:PRIMARY_LEN]


def index_keys(word: str, short_prefix: bool) -> set[str]:
    """Keys an article word is found under."""
    keys = {word[:PRIMARY_LEN]}
    if len(word) >= PRIMARY_LEN:
        keys.add(word[:SECONDARY_LEN])
    if short_prefix and len(word) >= SECONDARY_LEN:
        keys.add(SHORT_MARK + word[:3])
    return keys


def query_keys(word: str) -> list[tuple[str, float]]:
    """Keys a query word looks under, strongest first, with the credit each one earns."""
    keys = [(word[:PRIMARY_LEN], 1.0)]
    if len(word) > SECONDARY_LEN:
        keys.append((word[:SECONDARY_LEN], SECONDARY_QUALITY))
    elif len(word) == 3:
        keys.append((SHORT_MARK + word, SHORT_PREFIX_QUALITY))
    return keys
