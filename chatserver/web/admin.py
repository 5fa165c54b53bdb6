"""The admin screens: routing and business hours (settings stored in the database),
agents (cap, role, teams, languages, deactivate) and canned replies.

Every page checks the role on the server (a page a role may not see is a 403, never a
hidden link); every write goes through ``require_csrf`` (session CSRF token in
``X-CSRF-Token``, same origin) and is checked again on the server. The pages are plain
forms; ``agentdesk/static/admin.js`` sends them as JSON and says what happened.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from markdown_it import MarkdownIt
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from chatserver.backends.admin_queries import article_list, canned_replies, update_agent
from chatserver.core.settings import EDITABLE, TEAM_NAME_PATTERN, PrechatField, WidgetLook
from chatserver.live.auth import (
    ROLES,
    Principal,
    current_principal,
    hash_password,
    require_csrf,
    same_origin_or_absent,
)
from chatserver.services.settings import Actor, InvalidSetting, LiveSettings, editable
from chatserver.web.desk import MIN_PASSWORD
from chatserver.web.http_body import json_object
from chatserver.web.i18n import LANGUAGES, N_, ROLE_LABELS, translations, when
from chatserver.web.pages import _private, _render, desk_language

ADMIN = "admin"
MIN_CAP, MAX_CAP = 1, 10
NAV = (
    ("/admin/routing", N_("Routing and hours"), ADMIN),
    ("/admin/agents", N_("Agents"), ADMIN),
    ("/admin/teams", N_("Teams"), ADMIN),
    ("/admin/canned", N_("Canned replies"), "supervisor"),
    ("/admin/kb", N_("Knowledge base"), "supervisor"),
    ("/admin/credits", N_("Credit packs"), ADMIN),
    ("/admin/widget", N_("Widget and embed code"), ADMIN),
    ("/admin/me", N_("My language and time zone"), "agent"),
)
# Each language in its own name: whoever cannot read the current one still finds theirs.
LANGUAGE_NAMES = {
    "en": "English",
    "sl": "Slovenščina",
    "lt": "Lietuvių",
    "ro": "Română",
    "ru": "Русский",
    "sr-Latn": "Srpski (latinica)",
    "sr-Cyrl": "Српски (ћирилица)",
}
# How each editable setting is entered; admin.js turns the form's text into this JSON type.
KINDS: dict[str, str] = {
    "routing_policy": "choice",
    "default_agent_cap": "int",
    "auto_accept": "bool",
    "accept_timeout_s": "number",
    "reoffer_after_s": "optional-number",
    "disconnect_grace_s": "number",
    "language_fallback_s": "optional-number",
    "first_reply_timeout_s": "optional-number",
    "business_hours": "optional-text",
    "timezone": "text",
    "holidays": "lines",
    "team_hours": "teams",
    "widget_look": "widget",
    "allowed_origins": "lines",
    "credit_pack_credits": "packs",
}
CHOICES = {"routing_policy": ("least_loaded", "round_robin")}
LABELS = {
    "routing_policy": N_("Routing policy"),
    "default_agent_cap": N_("Default chats per agent"),
    "auto_accept": N_("Offers are accepted automatically"),
    "accept_timeout_s": N_("Offer answer timeout (seconds)"),
    "reoffer_after_s": N_("Offer a passed chat again after (seconds; empty: never)"),
    "disconnect_grace_s": N_("Disconnect grace (seconds)"),
    "language_fallback_s": N_("Any language after (seconds; empty: never)"),
    "first_reply_timeout_s": N_("Move a chat with no first reply after (seconds; empty: never)"),
    "business_hours": N_("Business hours (empty: always open)"),
    "timezone": N_("Time zone"),
    "holidays": N_("Holidays (one ISO date a line)"),
    "team_hours": N_("Business hours per team"),
    "widget_look": N_("The widget's look"),
    "allowed_origins": N_("Websites allowed to embed it (one origin a line)"),
    "credit_pack_credits": N_("Credit packs (one “SKU = credits” a line)"),
}
# What each setting does, in words an admin reads under its field (translated; the
# environment variables' own docs in core/settings.py speak to operators).
HELP = {
    "routing_policy": N_(
        "Least loaded: the next chat goes to the agent holding the fewest. Round robin: agents "
        "take turns."
    ),
    "default_agent_cap": N_(
        "How many chats an agent holds at once unless their own cap says otherwise (1–10; 4–6 "
        "suits most teams)."
    ),
    "auto_accept": N_(
        "Off: agents accept or decline each offered chat in the console (Alt+Y / Alt+N) before "
        "the answer timeout."
    ),
    "accept_timeout_s": N_(
        "How long an offer waits for the agent's answer before the chat goes to someone else."
    ),
    "reoffer_after_s": N_(
        "An agent who declined or missed a chat may be offered it again after this long. Empty:"
        " never; a chat every agent passed on then waits."
    ),
    "disconnect_grace_s": N_("An agent whose connection drops keeps their chats this long."),
    "language_fallback_s": N_(
        "After this long a visitor may get an agent who does not speak their language."
    ),
    "first_reply_timeout_s": N_(
        "A chat with no human reply this long moves to a colleague with room, of its team and "
        "language where possible; typing or a draft restarts the clock. Empty: it stays with "
        "its agent."
    ),
    "business_hours": N_(
        "When people answer, e.g. mon-fri 08:00-17:00; sat 09:00-13:00. Outside them the bot "
        "holds every chat."
    ),
    "timezone": N_("The time zone of the business hours and holidays, e.g. Europe/Vilnius."),
    "holidays": N_("Days with no business hours, one ISO date (2026-12-25) a line."),
    "team_hours": N_(
        "A team's own business hours, time zone and holidays; what it leaves empty is the "
        "desk's. A widget that sends its chats to the team follows them."
    ),
    "widget_look": N_(
        "Colour, position, greeting, pre-chat form and language of the widget wherever its "
        "embed tag does not set them."
    ),
    "allowed_origins": N_(
        "The websites whose pages may run the widget, as https://shop.example (* allows any); "
        "a change applies at once."
    ),
    "credit_pack_credits": N_(
        "Each product that sells support credits and the credits one unit grants; a line here "
        "wins over the server's file."
    ),
}
# The settings the routing page shows; the credit packs and the teams' hours have their own
# pages.
# The widget screen's own.
WIDGET_SETTINGS = ("widget_look", "allowed_origins")
ROUTING_SETTINGS = tuple(
    n for n in EDITABLE if n not in WIDGET_SETTINGS + ("credit_pack_credits", "team_hours")
)

assert set(KINDS) == set(EDITABLE) == set(LABELS) == set(HELP)


@dataclass(frozen=True)
class Viewer:
    """Who looks at an admin page, in which language and time zone."""

    principal: Principal
    language: str
    time_zone: str | None


async def _staff_page(request: Request, role: str) -> Viewer | Response:
    """The viewer, or the response to send instead (login, or 403 for a lower role)."""
    principal = await current_principal(request)
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    language, zone = await desk_language(request, principal)
    if not principal.has_role(role):
        refused = translations(language).gettext(N_("This page is for admins."))
        return _private(
            _render(
                "forbidden.html",
                language=language,
                agent=principal,
                status_code=403,
                message=refused,
            )
        )
    return Viewer(principal, language, zone)


# What a page says after admin.js reloaded it following a write (``?done=``): a fixed
# message per code, so a link cannot make the page say anything else.
DONE = {
    "saved": N_("Saved."),
    "reset": N_("Back to the default."),
    "deactivated": N_("Deactivated."),
}


def _page(request: Request, name: str, viewer: Viewer, current: str, **context: Any) -> Response:
    principal = viewer.principal
    nav = [(href, label, href == current) for href, label, role in NAV if principal.has_role(role)]
    done = DONE.get(request.query_params.get("done", ""), "")
    return _private(
        _render(
            name,
            language=viewer.language,
            agent=principal,
            csrf=principal.csrf,
            nav=nav,
            done=done,
            role_labels=ROLE_LABELS,
            **context,
        )
    )


def _shown(kind: str, value: Any) -> Any:
    """A setting's value as its form control shows it."""
    if kind == "lines":
        return "\n".join(value)
    if kind == "packs":
        return "\n".join(f"{sku} = {credits}" for sku, credits in sorted(value.items()))
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _settings_rows(
    live: LiveSettings, names: tuple[str, ...] = ROUTING_SETTINGS
) -> list[dict[str, Any]]:
    base, current = live.base, live.current
    allowed = set(editable(base))
    return [
        {
            "name": name,
            "label": LABELS[name],
            "kind": KINDS[name],
            "choices": CHOICES.get(name, ()),
            "value": _shown(KINDS[name], current.knob(name)),
            "env": _shown(KINDS[name], base.knob(name)),
            "stored": name in live.stored,
            "locked": name not in allowed,
            "doc": HELP[name],
        }
        for name in names
    ]


def _audit_row(entry: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
    moment = datetime.fromtimestamp(entry["at_ms"] / 1000, UTC)
    return {
        **entry,
        "iso": moment.isoformat(),
        "when": when(moment, viewer.language, viewer.time_zone),
    }


async def routing_page(request: Request) -> Response:
    viewer = await _staff_page(request, ADMIN)
    if isinstance(viewer, Response):
        return viewer
    live: LiveSettings = request.app.state.live_settings
    return _page(
        request,
        "admin_routing.html",
        viewer,
        "/admin/routing",
        rows=_settings_rows(live),
        audit=[_audit_row(e, viewer) for e in (await live.audit())[:50]],
    )


async def save_settings(request: Request) -> Response:
    """``{"values": {name: value}, "reset": [name]}``: reset goes back to the environment's."""
    principal = await require_csrf(request, ADMIN)
    body = await json_object(request)
    values, reset = body.get("values", {}), body.get("reset", [])
    if not isinstance(values, dict) or not isinstance(reset, list):
        raise HTTPException(400, "`values` must be an object and `reset` a list")
    if not all(isinstance(n, str) for n in reset):
        raise HTTPException(400, "`reset` must list setting names")
    for value in values.values():
        if isinstance(value, float) and not math.isfinite(value):
            raise HTTPException(400, "numbers must be finite")
    live: LiveSettings = request.app.state.live_settings
    try:
        changed = await live.save(
            values, Actor(principal.agent_id, principal.email), reset=tuple(reset)
        )
    except InvalidSetting as exc:
        return JSONResponse({"error": exc.reason, "field": exc.name}, status_code=400)
    return JSONResponse({"changed": changed})


async def credits_page(request: Request) -> Response:
    viewer = await _staff_page(request, ADMIN)
    if isinstance(viewer, Response):
        return viewer
    settings = request.app.state.settings
    return _page(
        request,
        "admin_credits.html",
        viewer,
        "/admin/credits",
        rows=_settings_rows(request.app.state.live_settings, ("credit_pack_credits",)),
        webhook_url=_public_base(request) + "/integrations/woocommerce/webhook",
        webhook_on=bool(settings.billing.woocommerce_secret),
        shop=settings.billing.woocommerce_source,
        packs_file=settings.billing.credit_packs,
    )


def _public_base(request: Request) -> str:
    """Where the outside world reaches this hub: ``PUBLIC_URL``, else this request's origin."""
    public = request.app.state.settings.security.public_url
    return (public or str(request.base_url)).rstrip("/")


# ---------------------------------------------------------------------------- widget
# The widget's look is the embed tag's data-* attributes (widget/src/config.js): this page
# builds the tag, and previews it in a frame of this hub. Allowed origins are read once at
# start (the CORS middleware and the socket's Origin check), so they are shown, not edited.

COLOUR = re.compile(r"#[0-9a-fA-F]{3,8}")
MAX_TITLE = 80


def widget_look(params: Any) -> dict[str, str]:
    """The embed attributes asked for, each checked (anything else is dropped)."""
    look: dict[str, str] = {}
    color = params.get("color", "")
    if COLOUR.fullmatch(color):
        look["color"] = color
    if params.get("position") == "left":
        look["position"] = "left"
    title = params.get("title", "").strip()
    if title and len(title) <= MAX_TITLE:
        look["title"] = title
    if params.get("lang") in LANGUAGES:
        look["lang"] = params["lang"]
    if params.get("prechat") == "true":
        look["prechat"] = "true"
    langs = [code for code in params.get("langs", "").split(",") if code in LANGUAGES]
    if langs:
        look["langs"] = ",".join(dict.fromkeys(langs))
    fields = _preview_fields(params.get("fields", ""), params.get("custom_label", ""))
    if fields:
        look["fields"] = json.dumps(fields, ensure_ascii=False)
    team = params.get("team", "").strip()
    if TEAM_NAME.fullmatch(team):
        look["team"] = team
    return look


# The pre-chat questions the widget knows (chatserver/core/settings.py `PrechatField`).
PRECHAT_TITLES = {
    "name": N_("Name"),
    "email": N_("E-mail"),
    "phone": N_("Phone"),
    "order": N_("Order number"),
    "custom": N_("Your own question"),
}
# Without saved fields the widget asks for a name (optional) and an e-mail (required).
DEFAULT_ASKED = {"name": "optional", "email": "required"}


def _preview_fields(spec: str, custom_label: str) -> list[dict[str, Any]]:
    """The preview's pre-chat questions from ``name:required,phone:optional,...``."""
    fields: list[dict[str, Any]] = []
    label = custom_label.strip()[:MAX_TITLE]
    for item in spec.split(",")[: len(PRECHAT_TITLES)]:
        name, _sep, asked = item.partition(":")
        if name not in PRECHAT_TITLES or any(f["name"] == name for f in fields):
            continue
        if name == "custom" and not label:
            continue
        field: dict[str, Any] = {"name": name, "required": asked == "required"}
        if name == "custom":
            field["label"] = label
        fields.append(field)
    return fields


def prechat_rows(look: WidgetLook) -> list[dict[str, Any]]:
    """The widget screen's question rows: each question, whether and how it is asked."""
    saved: dict[str, PrechatField] | None = (
        {f.name: f for f in look.fields} if look.fields is not None else None
    )
    rows = []
    for name, title in PRECHAT_TITLES.items():
        if saved is None:
            asked, label = DEFAULT_ASKED.get(name, ""), None
        else:
            field = saved.get(name)
            asked = ("required" if field.required else "optional") if field else ""
            label = field.label if field else None
        rows.append({"name": name, "title": title, "asked": asked, "label": label})
    return rows


async def widget_page(request: Request) -> Response:
    viewer = await _staff_page(request, ADMIN)
    if isinstance(viewer, Response):
        return viewer
    settings = request.app.state.settings
    look = request.app.state.live_settings.current.admin.widget_look
    return _page(
        request,
        "admin_widget.html",
        viewer,
        "/admin/widget",
        hub=_public_base(request),
        site_key=settings.security.site_key,
        origins=settings.security.allowed_origins,
        languages=LANGUAGE_NAMES,
        teams=await _team_names(request),
        look=look,
        prechat_fields=prechat_rows(look),
        origin_rows=_settings_rows(request.app.state.live_settings, ("allowed_origins",)),
    )


async def widget_preview(request: Request) -> Response:
    """A page with the widget as the admin set it up, for the admin page's frame."""
    viewer = await _staff_page(request, ADMIN)
    if isinstance(viewer, Response):
        return viewer
    response = _render(
        "admin_widget_preview.html",
        language=viewer.language,
        site_key=request.app.state.settings.security.site_key,
        look=widget_look(request.query_params),
    )
    # Framed by the admin page only (every other page: frame-ancestors 'none').
    response.headers["content-security-policy"] = response.headers[
        "content-security-policy"
    ].replace("frame-ancestors 'none'", "frame-ancestors 'self'")
    return _private(response)


# ---------------------------------------------------------------------------- agents


async def agents_page(request: Request) -> Response:
    viewer = await _staff_page(request, ADMIN)
    if isinstance(viewer, Response):
        return viewer
    agents = await request.app.state.store.list_agents()
    return _page(
        request,
        "admin_agents.html",
        viewer,
        "/admin/agents",
        agents=agents,
        roles=ROLES,
        default_cap=request.app.state.settings.routing.default_agent_cap,
        min_cap=MIN_CAP,
        max_cap=MAX_CAP,
    )


def _words(value: Any, field: str) -> str:
    """A comma-separated list (teams, languages) as the agents table keeps it."""
    if not isinstance(value, str) or len(value) > 400:
        raise HTTPException(400, f"`{field}` must be a comma-separated text")
    words = sorted({w.strip() for w in value.split(",") if w.strip()})
    return ",".join(words)


async def save_agent(request: Request) -> Response:
    """Change an agent's cap, role, teams or languages; routing follows at once."""
    principal = await require_csrf(request, ADMIN)
    state = request.app.state
    agent_id = int(request.path_params["agent_id"])
    body = await json_object(request)
    values: dict[str, Any] = {}
    if "cap" in body:
        cap = body["cap"]
        if not isinstance(cap, int) or isinstance(cap, bool) or not MIN_CAP <= cap <= MAX_CAP:
            raise HTTPException(400, f"`cap` must be a whole number from {MIN_CAP} to {MAX_CAP}")
        values["cap"] = cap
    if "role" in body:
        if body["role"] not in ROLES:
            raise HTTPException(400, f"`role` must be one of {', '.join(ROLES)}")
        if agent_id == principal.agent_id and body["role"] != ADMIN:
            raise HTTPException(400, "you cannot take away your own admin role")
        values["role"] = body["role"]
    for field in ("teams", "languages"):
        if field in body:
            values[field] = _words(body[field], field)
    values.update(_preferences(body))
    if not values:
        raise HTTPException(400, "nothing to change")
    found = await state.store.write(lambda conn: update_agent(conn, agent_id, values))
    if not found:
        raise HTTPException(404, "no such agent")
    await state.dispatch.agent_changed(agent_id)
    return JSONResponse({"ok": True, "changed": sorted(values)})


def _preferences(body: dict[str, Any]) -> dict[str, Any]:
    """An agent's desk language and time zone from a request body ("" clears either)."""
    values: dict[str, Any] = {}
    if "ui_language" in body:
        language = body["ui_language"] or None
        if language is not None and language not in LANGUAGES:
            raise HTTPException(400, f"`ui_language` must be one of {', '.join(LANGUAGES)}")
        values["ui_language"] = language
    if "time_zone" in body:
        zone = body["time_zone"] or None
        if zone is not None:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError, TypeError):
                raise HTTPException(400, "`time_zone` must be an IANA time zone") from None
        values["time_zone"] = zone
    return values


async def me_page(request: Request) -> Response:
    viewer = await _staff_page(request, "agent")
    if isinstance(viewer, Response):
        return viewer
    agent = await request.app.state.store.get_agent(viewer.principal.agent_id)
    return _page(
        request,
        "admin_me.html",
        viewer,
        "/admin/me",
        languages=LANGUAGE_NAMES,
        me=agent,
        now=when(datetime.now(UTC), viewer.language, viewer.time_zone),
    )


async def save_me(request: Request) -> Response:
    """Every agent sets their own desk language and time zone."""
    principal = await require_csrf(request, "agent")
    values = _preferences(await json_object(request))
    if not values:
        raise HTTPException(400, "nothing to change")
    await request.app.state.store.write(lambda conn: update_agent(conn, principal.agent_id, values))
    return JSONResponse({"ok": True})


# ---------------------------------------------------------------------------- teams
# A team is a name agents carry (agents.teams); routing sends a team's chats to its members.

TEAM_NAME = re.compile(TEAM_NAME_PATTERN)


def _team_set(teams: str) -> set[str]:
    return {t.strip() for t in teams.split(",") if t.strip()}


async def _team_names(request: Request) -> list[str]:
    """Every team: the ones agents carry and the ones with hours of their own."""
    agents = [a for a in await request.app.state.store.list_agents() if a.active]
    named = {t for a in agents for t in _team_set(a.teams)}
    named |= set(request.app.state.live_settings.current.routing.team_hours)
    return sorted(named, key=str.casefold)


async def teams_page(request: Request) -> Response:
    viewer = await _staff_page(request, ADMIN)
    if isinstance(viewer, Response):
        return viewer
    agents = [a for a in await request.app.state.store.list_agents() if a.active]
    teams = sorted({t for a in agents for t in _team_set(a.teams)}, key=str.casefold)
    hours = request.app.state.live_settings.current.routing.team_hours
    # A team with hours of its own but nobody in it yet is still listed (its hours stay).
    teams = sorted(set(teams) | set(hours), key=str.casefold)
    members = {t: [a for a in agents if t in _team_set(a.teams)] for t in teams}
    return _page(
        request,
        "admin_teams.html",
        viewer,
        "/admin/teams",
        teams=members,
        agents=agents,
        hours={t: hours.get(t) for t in teams},
    )


def _optional_text(body: dict[str, Any], field: str, limit: int) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise HTTPException(400, f"`{field}` must be text of at most {limit} characters")
    return value.strip() or None


async def save_team_hours(request: Request) -> Response:
    """``{"name", "hours", "timezone", "holidays"}`` (holidays: one ISO date a line): the
    team's own business hours; an empty field is the desk's, all empty drops the team's
    own. Saved as the ``team_hours`` setting: audited, and every node applies it at once."""
    principal = await require_csrf(request, ADMIN)
    body = await json_object(request)
    name = body.get("name")
    if not isinstance(name, str) or not TEAM_NAME.fullmatch(name.strip()):
        raise HTTPException(400, "`name`: 1 to 60 letters, digits, spaces or . & ' -")
    hours = _optional_text(body, "hours", 500)
    zone = _optional_text(body, "timezone", 64)
    days = _optional_text(body, "holidays", 4000)
    holidays = [d.strip() for d in days.splitlines() if d.strip()] if days else None
    live: LiveSettings = request.app.state.live_settings
    teams = {t: h.model_dump() for t, h in live.current.routing.team_hours.items()}
    if hours is None and zone is None and holidays is None:
        teams.pop(name.strip(), None)
    else:
        teams[name.strip()] = {"hours": hours, "timezone": zone, "holidays": holidays}
    try:
        changed = await live.save({"team_hours": teams}, Actor(principal.agent_id, principal.email))
    except InvalidSetting as exc:
        return JSONResponse({"error": exc.reason, "field": exc.name}, status_code=400)
    return JSONResponse({"changed": changed})


async def save_team(request: Request) -> Response:
    """``{"name", "members": [agent id]}``: exactly these agents are in the team (an empty
    list dissolves it); routing hears of every agent whose teams changed."""
    await require_csrf(request, ADMIN)
    state = request.app.state
    body = await json_object(request)
    name, members = body.get("name"), body.get("members")
    if not isinstance(name, str) or not TEAM_NAME.fullmatch(name.strip()) or "," in name:
        raise HTTPException(400, "`name`: 1 to 60 letters, digits, spaces or . & ' -")
    if not isinstance(members, list) or not all(
        isinstance(m, int) and not isinstance(m, bool) for m in members
    ):
        raise HTTPException(400, "`members` must list agent ids")
    name, wanted = name.strip(), set(members)
    changed = []
    for agent in await state.store.list_agents():
        teams = _team_set(agent.teams)
        new = teams | {name} if agent.id in wanted else teams - {name}
        if new != teams:
            values = {"teams": ",".join(sorted(new))}
            await state.store.write(lambda conn, a=agent.id, v=values: update_agent(conn, a, v))
            changed.append(agent.id)
    for agent_id in changed:
        await state.dispatch.agent_changed(agent_id)
    return JSONResponse({"ok": True, "changed": changed})


# ---------------------------------------------------------------------------- knowledge base
# The editor saves through the knowledge-base API (PUT /api/kb/articles/{id}); the preview
# is Markdown rendered here with raw HTML off (markdown-it escapes it, and refuses
# javascript: and data: links), so what an author types is never markup in the page.

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False})
MAX_PREVIEW_CHARS = 100_000


async def kb_page(request: Request) -> Response:
    viewer = await _staff_page(request, "supervisor")
    if isinstance(viewer, Response):
        return viewer
    state = request.app.state
    wanted = request.query_params.get("id", "")
    article = await state.assist.article(wanted) if wanted else None
    linked = await state.assist.translations(article) if article else []
    # "Translate into …": a new article in that language, in the source's group, with the
    # source's text to translate from.
    source = await state.assist.article(request.query_params.get("translate", ""))
    into = request.query_params.get("lang", "")
    draft = None
    if article is None and source is not None and into in LANGUAGES:
        draft = dataclasses.replace(
            source,
            id=f"{source.group or source.id}-{into.lower()}"[:64],
            lang=into,
            group=source.group or source.id,
        )
    return _page(
        request,
        "admin_kb.html",
        viewer,
        "/admin/kb",
        articles=await state.store.read(article_list),
        article=article or draft,
        is_draft=draft is not None,
        translations=linked,
        missing=[
            code
            for code in LANGUAGES
            if article is not None and code != article.lang and all(t.lang != code for t in linked)
        ],
        languages=LANGUAGE_NAMES,
    )


async def kb_preview(request: Request) -> Response:
    await require_csrf(request, "supervisor")
    body = await json_object(request)
    text = body.get("body")
    if not isinstance(text, str) or len(text) > MAX_PREVIEW_CHARS:
        raise HTTPException(400, f"`body` must be text of at most {MAX_PREVIEW_CHARS} characters")
    return JSONResponse({"html": _markdown.render(text)})


# ---------------------------------------------------------------------------- invitations
# An invited agent has no password (``INVITED`` is no argon2 hash: every login fails) until
# they open their link and choose one. The link names the agent and their session version;
# choosing a password bumps that version, so the link works once.

INVITED = "!invited"
INVITE_TTL_S = 7 * 24 * 3600


def _invites(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        request.app.state.settings.security.secret_key, salt="livedesk.invite"
    )


async def invite(request: Request) -> Response:
    """``{"email", "name", "role", "cap"}`` → a new agent and their one-time link."""
    await require_csrf(request, ADMIN)
    state = request.app.state
    body = await json_object(request)
    email, name = body.get("email"), body.get("name")
    role, cap = body.get("role", "agent"), body.get("cap", state.settings.routing.default_agent_cap)
    if not isinstance(email, str) or "@" not in email or len(email) > 320:
        raise HTTPException(400, "`email` must be an e-mail address")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise HTTPException(400, "`name` is required (at most 200 characters)")
    if role not in ROLES:
        raise HTTPException(400, f"`role` must be one of {', '.join(ROLES)}")
    if not isinstance(cap, int) or isinstance(cap, bool) or not MIN_CAP <= cap <= MAX_CAP:
        raise HTTPException(400, f"`cap` must be a whole number from {MIN_CAP} to {MAX_CAP}")
    if await state.store.get_agent_by_email(email) is not None:
        raise HTTPException(409, "an agent with this e-mail exists")
    agent = await state.store.add_agent(email, name.strip(), INVITED, role=role, cap=cap)
    token = _invites(request).dumps({"a": agent.id, "v": agent.session_version})
    return JSONResponse({"id": agent.id, "link": str(request.url_for("invite_page", token=token))})


async def _invited(request: Request) -> Any:
    """The agent the link invites, while the link is unused and fresh; else 404."""
    try:
        claims = _invites(request).loads(request.path_params["token"], max_age=INVITE_TTL_S)
    except (BadSignature, SignatureExpired):
        raise HTTPException(
            404, "this invitation link is not valid (used, expired or wrong)"
        ) from None
    agent = await request.app.state.store.get_agent(int(claims.get("a", 0)))
    if agent is None or not agent.active or agent.session_version != claims.get("v"):
        raise HTTPException(404, "this invitation link is not valid (used, expired or wrong)")
    return agent


async def invite_page(request: Request) -> Response:
    agent = await _invited(request)
    return _private(_render("admin_invite.html", invited=agent, csrf=None))


async def accept_invite(request: Request) -> Response:
    """The invited agent chooses a password; the link stops working."""
    if not same_origin_or_absent(request, request.app.state.settings):
        raise HTTPException(403, "cross-origin request refused")
    agent = await _invited(request)
    body = await json_object(request)
    password = body.get("password")
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= 1024:
        raise HTTPException(400, f"the password must be {MIN_PASSWORD} to 1024 characters")
    hashed = await asyncio.to_thread(hash_password, password)
    await request.app.state.store.end_agent_sessions(agent.id, password_hash=hashed)
    return JSONResponse({"ok": True})


# ---------------------------------------------------------------------------- canned replies


async def canned_page(request: Request) -> Response:
    viewer = await _staff_page(request, "supervisor")
    if isinstance(viewer, Response):
        return viewer
    replies = await request.app.state.store.read(canned_replies)
    return _page(request, "admin_canned.html", viewer, "/admin/canned", replies=replies)


async def admin_home(request: Request) -> Response:
    return RedirectResponse("/admin/routing", status_code=303)


routes = [
    Route("/admin", admin_home),
    Route("/admin/routing", routing_page),
    Route("/admin/agents", agents_page),
    Route("/admin/canned", canned_page),
    Route("/admin/me", me_page),
    Route("/admin/credits", credits_page),
    Route("/admin/teams", teams_page),
    Route("/admin/kb", kb_page),
    Route("/api/admin/kb/preview", kb_preview, methods=["POST"]),
    Route("/api/admin/teams", save_team, methods=["POST"]),
    Route("/api/admin/teams/hours", save_team_hours, methods=["POST"]),
    Route("/admin/widget", widget_page),
    Route("/admin/widget/preview", widget_preview),
    Route("/api/admin/me", save_me, methods=["POST"]),
    Route("/api/admin/settings", save_settings, methods=["POST"]),
    Route("/api/admin/agents/{agent_id:int}", save_agent, methods=["POST"]),
    Route("/api/admin/agents/invite", invite, methods=["POST"]),
    Route("/invite/{token}", invite_page, methods=["GET"], name="invite_page"),
    Route("/invite/{token}", accept_invite, methods=["POST"]),
]
