"""docs/protocol.md's "HTTP routes" table lists exactly the routes the app serves: a route
added, renamed or removed without the contract saying so fails here."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.routing import Mount, Route, WebSocketRoute

from chatserver.web.app import create_app
from tests.integration.conftest import make_settings

DOC = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text()


def documented() -> set[tuple[str, str]]:
    start, end = DOC.index("<!-- http-routes -->"), DOC.index("<!-- /http-routes -->")
    rows = re.findall(r"^\| (\w+) \| `([^`]+)` \|$", DOC[start:end], re.M)
    assert rows, "the HTTP routes table is empty"
    return set(rows)


def served(tmp_path: Path) -> set[tuple[str, str]]:
    app = create_app(make_settings(tmp_path))
    out: set[tuple[str, str]] = set()
    for route in app.routes:
        if isinstance(route, Route):
            for method in route.methods or {"GET"}:
                if method != "HEAD":  # Starlette adds HEAD to every GET
                    out.add((method, route.path))
        elif isinstance(route, WebSocketRoute):
            out.add(("WS", route.path))
        elif isinstance(route, Mount):
            out.add(("MOUNT", route.path))
    return out


def test_the_documented_http_routes_are_the_apps_routes(tmp_path: Path) -> None:
    app_routes = served(tmp_path)
    doc_routes = documented()
    assert app_routes - doc_routes == set(), "served but not documented"
    assert doc_routes - app_routes == set(), "documented but not served"
