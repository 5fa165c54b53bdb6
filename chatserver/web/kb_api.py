"""HTTP API of the knowledge base: search and read for everyone (the widget's
self-service), edit for supervisors and admins, canned replies for agents."""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chatserver.live.auth import require_csrf, require_role
from chatserver.runtime.workers import Busy
from chatserver.services.assist import article_dict, canned_dict, top_article_dict
from chatserver.web.http_body import BadRequest, json_object, require_json
from kb.article import Article, CannedReply, base_lang
from kb.errors import KbFormatError
from kb.io import article_from_mapping

MAX_QUERY = 500
MAX_BODY = 256 * 1024


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


def _limit(request: Request, default: int, most: int) -> int:
    raw = request.query_params.get("limit", str(default))
    return max(1, min(most, int(raw))) if raw.isdigit() else default


async def search(request: Request) -> Response:
    query = request.query_params.get("q", "").strip()[:MAX_QUERY]
    lang = request.query_params.get("lang") or None
    if not query:
        return JSONResponse({"results": []})
    try:
        found = await request.app.state.assist.public_search(query, lang, _limit(request, 5, 20))
    except Busy:
        response = _error(503, "busy", "search is busy; try again in a moment")
        response.headers["retry-after"] = "1"
        return response
    return JSONResponse({"results": [_result(item) for item in found]})


def _result(item: dict[str, Any]) -> dict[str, Any]:
    item["id"] = item.pop("article_id")
    return item


async def top(request: Request) -> Response:
    """The Help view's list before the visitor types anything."""
    lang = request.query_params.get("lang") or None
    found = await request.app.state.assist.top_articles(lang, _limit(request, 5, 20))
    return JSONResponse({"results": [top_article_dict(a) for a in found]})


async def get_article(request: Request) -> Response:
    """An article and its translations (``translations``: id, lang, title); with
    ``?lang=``, its translation in that language when it has one (``translation_of``
    names the one asked for), so an agent reads in their language what the visitor reads
    in theirs."""
    assist = request.app.state.assist
    article = await assist.article(request.path_params["article_id"])
    if article is None:
        return _error(404, "not_found", "no such article")
    others = await assist.translations(article)
    wanted = base_lang(request.query_params.get("lang"))
    shown, asked = article, None
    if wanted and base_lang(article.lang) != wanted:
        for other in others:
            if base_lang(other.lang) == wanted:
                shown, asked = other, article
                break
    body = article_dict(shown)
    family = [article, *others] if asked is not None else others
    body["translations"] = [
        {"id": a.id, "lang": a.lang, "title": a.title} for a in family if a.id != shown.id
    ]
    if asked is not None:
        body["translation_of"] = asked.id
    return JSONResponse(body)


async def _editor_body(request: Request) -> dict[str, Any]:
    """Editing needs a supervisor, the session's CSRF token and our own Origin (as every
    state change of the desk: ``auth.require_csrf``), and a JSON body."""
    await _require_csrf(request)
    require_json(request)
    return await json_object(
        request,
        max_bytes=MAX_BODY,
        too_large="article too large",
        empty_is_object=False,
        invalid="invalid_json",
    )


async def save_article(request: Request) -> Response:
    try:
        body = await _editor_body(request)
        if "article_id" in request.path_params:
            body["id"] = request.path_params["article_id"]
        article: Article = article_from_mapping(body, "request", 1)
    except BadRequest as exc:
        return exc.response
    except KbFormatError as exc:
        return _error(400, "invalid_field", str(exc))
    assist = request.app.state.assist
    stored = await assist.article(article.id)
    if "group" not in body and stored is not None:
        # An edit that does not speak of translations keeps the article's links.
        article = dataclasses.replace(article, group=stored.group)
    saved = await assist.save_article(article)
    if saved.group and saved.group != saved.id:
        # A group is named after the article first translated: link that one too.
        first = await assist.article(saved.group)
        if first is not None and not first.group:
            await assist.save_article(dataclasses.replace(first, group=saved.group))
    return JSONResponse(article_dict(saved), status_code=200)


async def _require_csrf(request: Request) -> None:
    """``require_csrf`` for supervisors, its refusals in this API's JSON shape."""
    try:
        await require_csrf(request, "supervisor")
    except HTTPException as exc:
        if exc.status_code != 403:
            raise
        raise BadRequest(exc.detail, 403, "forbidden") from None


async def delete_article(request: Request) -> Response:
    try:
        await _require_csrf(request)
    except BadRequest as exc:
        return exc.response
    deleted = await request.app.state.assist.delete_article(request.path_params["article_id"])
    return JSONResponse({"deleted": deleted}, status_code=200 if deleted else 404)


async def canned(request: Request) -> Response:
    await require_role(request, "agent")
    prefix = request.query_params.get("prefix", "").strip()[:64]
    lang = request.query_params.get("lang") or None
    found = await request.app.state.assist.canned_lookup(prefix, lang, _limit(request, 5, 20))
    return JSONResponse({"results": [canned_dict(r) for r in found]})


async def save_canned(request: Request) -> Response:
    try:
        body = await _editor_body(request)
    except BadRequest as exc:
        return exc.response
    fields = {k: body.get(k) for k in ("shortcut", "text", "lang")}
    if not all(isinstance(v, str) and v.strip() for v in fields.values()):
        return _error(400, "invalid_field", "shortcut, text and lang are required strings")
    await request.app.state.assist.save_canned(
        CannedReply(shortcut=fields["shortcut"], text=fields["text"], lang=fields["lang"])  # type: ignore[arg-type]
    )
    return JSONResponse({"saved": True})


routes = [
    Route("/api/kb/search", search, methods=["GET"]),
    Route("/api/kb/top", top, methods=["GET"]),
    Route("/api/kb/articles", save_article, methods=["POST"]),
    Route("/api/kb/articles/{article_id}", get_article, methods=["GET"]),
    Route("/api/kb/articles/{article_id}", save_article, methods=["PUT"]),
    Route("/api/kb/articles/{article_id}", delete_article, methods=["DELETE"]),
    Route("/api/canned", canned, methods=["GET"]),
    Route("/api/canned", save_canned, methods=["POST"]),
]
