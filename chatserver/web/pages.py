"""The pages a person opens: index, login, the demo page with the widget, the agent console
and the supervisor dashboard."""

from __future__ import annotations

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response

import agentdesk
import widget
from chatserver.live.auth import Principal, current_principal
from chatserver.web import i18n


def make_environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(agentdesk.TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
    )


# English (the templates' own words); other languages: i18n.environment.
templates = make_environment()
templates.install_null_translations(newstyle=True)  # type: ignore[attr-defined]


def _render(
    name: str, status_code: int = 200, language: str = i18n.DEFAULT, **context: object
) -> HTMLResponse:
    env = templates if language == i18n.DEFAULT else i18n.environment(make_environment, language)
    body = env.get_template(name).render(lang=language, **context)
    response = HTMLResponse(body, status_code=status_code)
    response.headers["content-security-policy"] = (
        "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
        "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
    )
    response.headers["x-content-type-options"] = "nosniff"
    return response


async def index(request: Request) -> Response:
    return _render("index.html")


async def login_page(request: Request) -> Response:
    # Nobody is logged in yet: the language asked for (?lang=), else the browser's.
    language = i18n.language_of(request.query_params.get("lang")) or i18n.negotiate(
        request.headers.get("accept-language")
    )
    return _render("login.html", language=language, failed="failed" in request.query_params)


async def demo_page(request: Request) -> Response:
    settings = request.app.state.settings
    return _render("demo.html", site_key=settings.security.site_key)


async def desk_language(request: Request, principal: Principal) -> tuple[str, str | None]:
    """The language and time zone the agent reads the desk in: their own setting, else
    the browser's language (and the browser's time zone)."""
    agent = await request.app.state.store.get_agent(principal.agent_id)
    language = (agent and i18n.language_of(agent.ui_language)) or i18n.negotiate(
        request.headers.get("accept-language")
    )
    return language, agent.time_zone if agent else None


async def agent_page(request: Request) -> Response:
    principal = await current_principal(request)
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    language, zone = await desk_language(request, principal)
    return _private(
        _render(
            "agent.html",
            language=language,
            agent=principal,
            csrf=principal.csrf,
            desk_i18n=i18n.client_i18n(language, zone),
        )
    )


async def supervisor_page(request: Request) -> Response:
    principal = await current_principal(request)
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    language, zone = await desk_language(request, principal)
    if not principal.has_role("supervisor"):
        return _private(
            _render("forbidden.html", language=language, agent=principal, status_code=403)
        )
    return _private(
        _render(
            "supervisor.html",
            language=language,
            role_labels=i18n.ROLE_LABELS,
            agent=principal,
            csrf=principal.csrf,
            desk_i18n=i18n.client_i18n(language, zone),
        )
    )


def _private(response: HTMLResponse) -> HTMLResponse:
    # These pages carry the CSRF token: never from a shared cache, never from history.
    response.headers["cache-control"] = "no-store"
    return response


async def widget_bundle(request: Request) -> Response:
    return FileResponse(
        widget.BUNDLE_PATH,
        media_type="text/javascript",
        headers={"cache-control": "public, max-age=300"},
    )
