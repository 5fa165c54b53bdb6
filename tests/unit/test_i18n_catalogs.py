"""The desk's catalogs: every string of the translated templates (extracted with Babel, as
`babel.cfg` says) is translated in every language, placeholders intact, plural forms as many
as the language has; the compiled .mo says what the .po says; pages render in the language."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.extract import extract_from_dir
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po
from babel.support import Translations

from chatserver.web import i18n
from chatserver.web.pages import make_environment, templates

ROOT = Path(__file__).parents[2]
LOCALES = [loc for tag, loc in i18n.LANGUAGES.items() if tag != i18n.DEFAULT]
PLACEHOLDER = re.compile(r"%\([a-z]+\)[sd]")


def method_map() -> list[tuple[str, str]]:
    """babel.cfg's sections as extract_from_dir takes them."""
    methods = {"python": "python", "jinja2": "jinja2.ext:babel_extract", "javascript": "javascript"}
    out = []
    for line in (ROOT / "babel.cfg").read_text().splitlines():
        if match := re.fullmatch(r"\[(\w+): (.+)\]", line.strip()):
            out.append((match.group(2), methods[match.group(1)]))
    return out


def extracted() -> set[str | tuple[str, str]]:
    found: set[str | tuple[str, str]] = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(
        str(ROOT), method_map(), options_map={"**.html": {"extensions": "jinja2.ext.i18n"}}
    ):
        found.add(message if isinstance(message, str) else (message[0], message[1]))
    return found


def test_the_translated_templates_have_strings_to_translate() -> None:
    strings = extracted()
    assert "Routing and hours" in strings  # a template's
    assert "Offers are accepted automatically" in strings  # admin.py's N_
    assert "Wrong e-mail or password." in strings  # the login page's
    assert "Search messages or customers" in strings  # the console's inbox panel
    assert "Offline messages" in strings  # inbox.js's
    assert ("%(num)d reply", "%(num)d replies") in strings
    assert "Incoming chats" in strings  # the console's template
    assert "Service levels" in strings  # the dashboard's
    assert "Not allowed" in strings  # the refusal page's
    assert (
        "Suggestions from the knowledge base appear as the visitor writes." in strings
    )  # agent.js
    assert ("%(num)d earlier chat", "%(num)d earlier chats") in strings  # agent.js, a plural
    assert "Taken over: it is in your console now." in strings  # dashboard.js
    # What the page hands the scripts is what babel.cfg extracts from them.
    assert set(i18n.script_messages()) <= strings


@pytest.mark.parametrize("locale", LOCALES)
def test_every_catalog_translates_every_string_of_the_templates(locale: str) -> None:
    po_path = ROOT / "agentdesk/locale" / locale / "LC_MESSAGES/messages.po"
    with po_path.open("rb") as po:
        catalog = read_po(po, locale=locale)
    plurals = get_plural(locale).num_plurals
    compiled = Translations.load(str(i18n.LOCALE_DIR), [locale])
    missing = []
    for string in extracted():
        key = string[0] if isinstance(string, tuple) else string
        message = catalog.get(key)
        if message is None or not message.string or message.fuzzy:
            missing.append(key)
            continue
        wanted = set(PLACEHOLDER.findall(key))
        if isinstance(string, tuple):
            forms = message.string
            assert len(forms) == plurals and all(forms), (locale, key)
            assert all(set(PLACEHOLDER.findall(f)) == wanted for f in forms), (locale, key)
        else:
            assert set(PLACEHOLDER.findall(message.string)) == wanted, (locale, key)
            # The shipped .mo was compiled from this .po.
            assert compiled.gettext(key) == message.string, (locale, key, "recompile the .mo")
    assert not missing, f"{locale} lacks: {missing}"


@pytest.mark.parametrize(
    ("language", "counts"),
    [
        ("ru", {1: "1 ответ", 3: "3 ответа", 5: "5 ответов", 21: "21 ответ", 11: "11 ответов"}),
        ("sl", {1: "1 odgovor", 2: "2 odgovora", 3: "3 odgovori", 5: "5 odgovorov"}),
        ("lt", {1: "1 atsakymas", 2: "2 atsakymai", 10: "10 atsakymų", 21: "21 atsakymas"}),
        ("ro", {1: "1 răspuns", 2: "2 răspunsuri", 20: "20 de răspunsuri"}),
        ("sr-Cyrl", {1: "1 одговор", 2: "2 одговора", 5: "5 одговора"}),
    ],
)
def test_plural_forms_follow_the_language(language: str, counts: dict[int, str]) -> None:
    translations = i18n.translations(language)
    for n, text in counts.items():
        assert translations.ngettext("%(num)d reply", "%(num)d replies", n) % {"num": n} == text


def test_the_login_page_renders_in_the_language_asked_for() -> None:
    sl = i18n.environment(make_environment, "sl").get_template("login.html").render(lang="sl")
    assert "Prijava" in sl and "Geslo" in sl and '<html lang="sl">' in sl
    cyr = (
        i18n.environment(make_environment, "sr-Cyrl")
        .get_template("login.html")
        .render(lang="sr-Cyrl")
    )
    assert "Лозинка" in cyr
    en = templates.get_template("login.html").render()
    assert "Password" in en


def test_the_inbox_panel_renders_and_its_script_speaks_in_the_agents_language() -> None:
    panel = (
        i18n.environment(make_environment, "sl")
        .get_template("inbox_panel.html")
        .render(agent=None, lang="sl")
    )
    assert "Iskanje po sporočilih ali strankah" in panel
    # inbox.js's words come in the console's catalog, as the other scripts' do.
    assert 'id="inbox-strings"' not in panel
    words = i18n.client_catalog("sl")
    assert words["Offline messages"] == "Sporočila brez povezave"
    assert words["Results for “%(q)s”: %(num)s"] == "Zadetki za »%(q)s«: %(num)s"
    assert i18n.client_catalog("sr-Cyrl")["Mine"] == "Моји"


def test_languages_are_negotiated_from_the_browser_and_tags_forgiven() -> None:
    assert i18n.negotiate("de-DE,de;q=0.9,sl;q=0.8,en;q=0.5") == "sl"
    assert i18n.negotiate("sr-RS") == "sr-Latn"
    assert i18n.negotiate("sr-Cyrl-RS;q=1") == "sr-Cyrl"
    assert i18n.negotiate("ru;q=0.3, lt;q=0.7") == "lt"
    assert i18n.negotiate(None) == "en"
    assert i18n.language_of("SR_latn") == "sr-Latn"
    assert i18n.language_of("xx") is None


def test_a_moment_is_shown_in_the_agents_locale_and_time_zone() -> None:
    moment = datetime(2026, 3, 5, 13, 7, tzinfo=UTC)
    assert (
        i18n.when(moment, "en", "Europe/Vilnius") == "Mar 5, 2026, 3:07:00\u202fPM (Europe/Vilnius)"
    )
    shown = i18n.when(moment, "ru", "Europe/Moscow")
    assert "16:07" in shown and "мар" in shown
    assert "14:07" in i18n.when(moment, "sl", "Europe/Ljubljana")
    assert i18n.when(moment, "sl", "Not/AZone").endswith("(UTC)")


@pytest.mark.parametrize("language", [tag for tag in i18n.LANGUAGES if tag != i18n.DEFAULT])
def test_the_scripts_plural_forms_by_cldr_category_match_the_catalogs(language: str) -> None:
    """The browser picks a form by Intl.PluralRules' CLDR category; for every count that must
    be the form gettext's own rule picks."""
    rule = Locale.parse(i18n.LANGUAGES[language]).plural_form
    catalog = i18n.client_catalog(language)
    gettext = i18n.translations(language)
    plurals = [m for m in i18n.script_messages() if isinstance(m, tuple)]
    assert plurals
    for one, many in plurals:
        forms = catalog[one]
        assert isinstance(forms, dict)
        for n in range(0, 1201):
            assert forms[rule(n)] == gettext.ngettext(one, many, n), (language, one, n)


def test_the_console_hands_its_scripts_their_strings_in_the_agents_language() -> None:
    page = (
        i18n.environment(make_environment, "sl")
        .get_template("agent.html")
        .render(
            lang="sl",
            agent={"agent_id": 1, "name": "Ana", "role": "agent"},
            csrf="x",
            desk_i18n=i18n.client_i18n("sl", "Europe/Ljubljana"),
        )
    )
    assert "Dohodni pogovori" in page and '<html lang="sl">' in page
    island = re.search(r'<script type="application/json" id="desk-i18n">(.*?)</script>', page)
    assert island is not None
    data = json.loads(island.group(1))
    assert data["lang"] == "sl" and data["timeZone"] == "Europe/Ljubljana"
    assert data["messages"]["Suggestions"] == "Predlogi"
    assert data["messages"]["%(num)d earlier chat"]["two"] == "%(num)d prejšnja pogovora"
    assert i18n.client_i18n("ru", "Not/AZone")["timeZone"] is None
    assert i18n.client_i18n("en", None)["messages"] == {}
