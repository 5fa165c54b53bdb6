"""docs/protocol.md mirrors the error-code and close-code tables of chatserver.core.errors."""

from __future__ import annotations

import re
from pathlib import Path

from chatserver.core.errors import CLOSE_REASONS, ERROR_CODES, CloseCode

DOC = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text()


def section(title: str) -> str:
    start = DOC.index(f"## {title}")
    end = DOC.find("\n## ", start + 1)
    return DOC[start : end if end != -1 else None]


def test_error_code_table_matches_the_code() -> None:
    rows = re.findall(r"^\| `(\w+)` \| (yes|no) \| (.+?) \|$", section("Error codes"), re.M)
    documented = {code: (meaning, retry == "yes") for code, retry, meaning in rows}
    assert documented == ERROR_CODES


def test_close_code_table_matches_the_code() -> None:
    rows = re.findall(r"^\| (\d+) \| `(\w+)` \| (.+?) \|$", section("Close codes"), re.M)
    documented = {int(num): (name, reason) for num, name, reason in rows}
    assert documented == {int(c): (c.name, CLOSE_REASONS[c]) for c in CloseCode}


def test_every_client_frame_type_is_documented() -> None:
    from chatserver.core.protocol import AGENT_TYPES, VISITOR_TYPES

    table = section("Frames")
    for kind in VISITOR_TYPES | AGENT_TYPES:
        assert f"| `{kind}` |" in table, kind
