"""The desk's pages in the agent's language: gettext catalogs (Babel) for the admin screens
and the login page, rendered through Jinja2's i18n extension, and dates in the agent's
locale and time zone.

Catalogs live in ``agentdesk/locale/<locale>/LC_MESSAGES/messages.po`` with their compiled
``.mo`` beside them (committed, shipped as package data); ``tests/unit/test_i18n_catalogs.py``
extracts the templates' strings and fails when a catalog lacks one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from babel.support import NullTranslations, Translations
from jinja2 import Environment

import agentdesk

# BCP 47 tag (what the browser and the agent's setting say) → the catalog's locale.
LANGUAGES = {
    "en": "en",
    "sl": "sl",
    "lt": "lt",
    "ro": "ro",
    "ru": "ru",
    "sr-Latn": "sr_Latn",
    "sr-Cyrl": "sr_Cyrl",
}
DEFAULT = "en"
LOCALE_DIR = agentdesk.LOCALE_DIR


def N_(message: str) -> str:  # noqa: N802 (gettext's own name for "mark, do not translate")
    """Marks a string for extraction; it is translated where it is shown."""
    return message


def language_of(tag: str | None) -> str | None:
    """A supported language tag for ``tag`` (case and separator forgiven), or None.
    Plain ``sr`` is Latin script: what Serbian sites and keyboards mostly use."""
    if not tag:
        return None
    wanted = tag.replace("_", "-").strip().casefold()
    for known in LANGUAGES:
        if known.casefold() == wanted:
            return known
    base = wanted.split("-")[0]
    if base == "sr":
        return "sr-Cyrl" if "cyrl" in wanted else "sr-Latn"
    return base if base in LANGUAGES else None


def negotiate(accept_language: str | None) -> str:
    """The best supported language of an Accept-Language header, by its q values."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        ranked.append((-q, i, tag))
    for _, _, tag in sorted(ranked):
        found = language_of(tag)
        if found:
            return found
    return DEFAULT


@cache
def translations(language: str) -> NullTranslations:
    if language == DEFAULT:
        return NullTranslations()
    return Translations.load(str(LOCALE_DIR), [LANGUAGES[language]])


@cache
def environment(make: Callable[[], Environment], language: str) -> Environment:
    """A template environment (``make()``: a new one, as the pages' own) speaking
    ``language``. Its own, not an overlay: an overlay shares its parent's globals and its
    gettext installer is bound to the parent, so one language would leak into all."""
    env = make()
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    return env


def when(moment: datetime, language: str, time_zone: str | None) -> str:
    """A moment as the agent reads it: their locale's medium format, their time zone."""
    try:
        zone = ZoneInfo(time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    try:
        locale = Locale.parse(LANGUAGES.get(language, DEFAULT))
    except (UnknownLocaleError, ValueError):
        locale = Locale.parse(DEFAULT)
    return format_datetime(moment, "medium", tzinfo=zone, locale=locale) + f" ({zone.key})"
