"""Web Push and notification routes for the console: the server's VAPID public key, the
browser's subscription (kept per agent), whether a console is in front of the agent (an
offer then rings there instead of being pushed) and the agent's notification choice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chatserver.backends import push_queries as pq
from chatserver.backends.store import now_ms
from chatserver.live.auth import require_csrf, require_role
from chatserver.web.http_body import BadRequest, json_object, optional_str, require_json

# The console renews its focus every 20 s while in front of the agent; a tab that died
# focused stops counting after this.
FOCUS_TTL_MS = 45_000
MAX_ENDPOINT = 1000
Handler = Callable[[Request], Awaitable[Response]]


def _no_store(payload: object) -> JSONResponse:
    response = JSONResponse(payload)
    response.headers["cache-control"] = "no-store"
    return response


async def key(request: Request) -> Response:
    await require_role(request, "agent")
    return _no_store({"public_key": await request.app.state.push.public_key()})


def _endpoint(request: Request, body: dict[str, object]) -> str:
    endpoint = optional_str(body, "endpoint", MAX_ENDPOINT)
    if endpoint is None:
        raise BadRequest("`endpoint` is required")
    parts = urlsplit(endpoint)
    insecure_ok = request.app.state.settings.push.push_insecure_endpoints
    if not parts.hostname or parts.scheme not in (("https", "http") if insecure_ok else ("https",)):
        raise BadRequest("`endpoint` must be an https URL of a push service")
    return endpoint


async def subscribe(request: Request) -> Response:
    """``{"endpoint", "keys": {"p256dh", "auth"}}``: a ``PushSubscription`` as the browser
    serialises it."""
    principal = await require_csrf(request, "agent")
    require_json(request)
    body = await json_object(request)
    endpoint = _endpoint(request, body)
    keys = body.get("keys")
    if not isinstance(keys, dict):
        raise BadRequest("`keys` must hold `p256dh` and `auth`")
    p256dh, auth = optional_str(keys, "p256dh", 200), optional_str(keys, "auth", 100)
    if p256dh is None or auth is None:
        raise BadRequest("`keys` must hold `p256dh` and `auth`")
    agent = principal.agent_id
    await request.app.state.store.write(
        lambda c: pq.subscribe(c, agent, endpoint, p256dh, auth, now_ms())
    )
    request.app.state.push.subscriptions_changed(agent, subscribed=True)
    return Response(status_code=204)


async def unsubscribe(request: Request) -> Response:
    principal = await require_csrf(request, "agent")
    require_json(request)
    endpoint = _endpoint(request, await json_object(request))
    await request.app.state.store.write(lambda c: pq.unsubscribe(c, principal.agent_id, endpoint))
    request.app.state.push.subscriptions_changed(principal.agent_id, subscribed=False)
    return Response(status_code=204)


async def focus(request: Request) -> Response:
    """``{"focused": true|false}``: a console came in front of the agent (renewed while it
    stays there) or went to the background."""
    principal = await require_csrf(request, "agent")
    require_json(request)
    focused = (await json_object(request)).get("focused")
    if not isinstance(focused, bool):
        raise BadRequest("`focused` must be true or false")
    until = now_ms() + FOCUS_TTL_MS if focused else 0
    await request.app.state.store.write(lambda c: pq.set_focus(c, principal.agent_id, until))
    return Response(status_code=204)


async def preference(request: Request) -> Response:
    """GET: ``{"desktop": true|false|null}`` (null: not chosen yet); POST the same to
    choose. Kept with the agent, so it follows them to any browser."""
    if request.method == "GET":
        principal = await require_role(request, "agent")
        agent = principal.agent_id
        chosen = await request.app.state.store.read(lambda c: pq.notify_choice(c, agent))
        return _no_store({"desktop": chosen})
    principal = await require_csrf(request, "agent")
    require_json(request)
    desktop = (await json_object(request)).get("desktop")
    if not isinstance(desktop, bool):
        raise BadRequest("`desktop` must be true or false")
    await request.app.state.store.write(
        lambda c: pq.set_notify_choice(c, principal.agent_id, desktop)
    )
    return _no_store({"desktop": desktop})


def _answering_bad_requests(handler: Handler) -> Handler:
    """A body that does not hold what the route wants is the client's 400 with its code."""

    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except BadRequest as exc:
            return exc.response

    return guarded


routes: list[BaseRoute] = [
    Route("/api/push/key", key),
    Route("/api/push/subscription", _answering_bad_requests(subscribe), methods=["POST"]),
    Route("/api/push/subscription", _answering_bad_requests(unsubscribe), methods=["DELETE"]),
    Route("/api/push/focus", _answering_bad_requests(focus), methods=["POST"]),
    Route("/api/push/preference", _answering_bad_requests(preference), methods=["GET", "POST"]),
]
