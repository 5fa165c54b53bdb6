"""The desk's pages in the agent's language: gettext catalogs (Babel) for the console, the
dashboard, the admin screens and the login page, rendered through Jinja2's i18n extension;
the console's and dashboard's scripts get their strings from the same catalogs as a JSON
island in the page (``client_i18n``); dates in the agent's locale and time zone.

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
from babel.messages.extract import extract_from_file
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
# The scripts whose strings the page hands over (``_``/``ngettext`` calls, extracted by
# Babel's JavaScript extractor as babel.cfg says).
SCRIPTS = (
    "common.js",
    "agent.js",
    "notify.js",
    "dashboard.js",
    "lookahead.js",
    "waiting.js",
    "inbox.js",
)


def N_(message: str) -> str:  # noqa: N802 (gettext's own name for "mark, do not translate")
    """Marks a string for extraction; it is translated where it is shown."""
    return message


# The roles as people read them (the admin screens, the dashboard's header).
ROLE_LABELS = {"agent": N_("Agent"), "supervisor": N_("Supervisor"), "admin": N_("Admin")}


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


def valid_zone(time_zone: str | None) -> str | None:
    """``time_zone`` if it names an IANA zone, else None (the browser's own then)."""
    if not time_zone:
        return None
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return time_zone


Message = str | tuple[str, str]


@cache
def script_messages() -> tuple[Message, ...]:
    """Every string the desk's scripts translate: a msgid, or (singular, plural)."""
    found: dict[Message, None] = {}
    for name in SCRIPTS:
        for _line, message, _comments, _context in extract_from_file(
            "javascript", str(agentdesk.STATIC_DIR / name)
        ):
            if isinstance(message, str):
                found[message] = None
            else:
                found[(str(message[0]), str(message[1]))] = None
    return tuple(found)


@cache
def plural_samples(language: str) -> dict[str, int]:
    """One whole number per CLDR plural category of ``language`` (what the browser's
    ``Intl.PluralRules`` answers): the gettext form that number takes is the category's."""
    rule = Locale.parse(LANGUAGES[language]).plural_form
    samples: dict[str, int] = {}
    for n in range(1000):
        samples.setdefault(rule(n), n)
    return samples


@cache
def client_catalog(language: str) -> dict[str, str | dict[str, str]]:
    """The scripts' strings in ``language``: msgid → text; a plural's singular msgid →
    {CLDR category → text}. English is empty: the scripts' own words are English."""
    if language == DEFAULT:
        return {}
    gettext = translations(language)
    catalog: dict[str, str | dict[str, str]] = {}
    for message in script_messages():
        if isinstance(message, str):
            text = gettext.gettext(message)
            if text != message:
                catalog[message] = text
        else:
            one, many = message
            catalog[one] = {
                category: gettext.ngettext(one, many, n)
                for category, n in plural_samples(language).items()
            }
    return catalog


def client_i18n(language: str, time_zone: str | None) -> dict[str, object]:
    """What the page's JSON island holds for common.js: the language (a BCP 47 tag for
    ``Intl``), the agent's time zone (None: the browser's) and the scripts' strings."""
    return {
        "lang": language,
        "timeZone": valid_zone(time_zone),
        "messages": client_catalog(language),
    }
