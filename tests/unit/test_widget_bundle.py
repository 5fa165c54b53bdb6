"""The committed widget bundle is the build of the committed sources (no Node needed here)."""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import widget
from chatserver.bot.brain import is_human_request
from chatserver.bot.phrases import serbian_to_cyrillic

ROOT = Path(__file__).parents[2]
SRC = ROOT / "widget" / "src"
MAX_GZIP_BYTES = 30 * 1024
HEADER = re.compile(r"^/\*! livedesk widget \| src-sha256=([0-9a-f]{64}) \|")


def inputs_digest() -> str:
    """The recipe of inputsDigest() in widget/build.mjs: sorted POSIX paths, NUL-separated."""
    files = [p for p in SRC.rglob("*") if p.is_file()]
    files += [ROOT / "widget" / "build.mjs", ROOT / "package-lock.json"]
    digest = hashlib.sha256()
    for name, path in sorted((p.relative_to(ROOT).as_posix(), p) for p in files):
        digest.update(name.encode() + b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def test_bundle_is_built_from_the_current_sources() -> None:
    first_line = widget.BUNDLE_PATH.read_text(encoding="utf-8").split("\n", 1)[0]
    found = HEADER.match(first_line)
    assert found, f"widget.js has no build header: {first_line[:120]!r}"
    assert found.group(1) == inputs_digest(), (
        "widget/static/widget.js is stale: run `npm ci && npm run build` and commit the bundle"
    )


def test_bundle_is_small() -> None:
    size = len(gzip.compress(widget.BUNDLE_PATH.read_bytes(), compresslevel=9))
    assert size <= MAX_GZIP_BYTES, f"widget.js is {size} bytes gzipped (limit {MAX_GZIP_BYTES})"


def test_sources_never_write_markup() -> None:
    """User text must reach the page as text: no HTML-parsing sinks anywhere in the widget."""
    sinks = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function"
    )
    offenders = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in SRC.rglob("*.js")
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if sinks.search(line)
    ]
    assert offenders == []


def test_talk_to_a_person_is_understood_by_the_bot_in_every_language() -> None:
    """The widget's button sends this phrase; the server's bot must read it as "get a human"."""
    source = (SRC / "i18n.js").read_text(encoding="utf-8")
    phrases = re.findall(r'^  human: "([^"]+)",$', source, re.M)
    assert len(phrases) == 6, phrases  # en sl lt ro ru sr-Latn; sr-Cyrl is derived from sr-Latn
    phrases.append(serbian_to_cyrillic(phrases[-1]))
    not_understood = [p for p in phrases if not is_human_request(p)]
    assert not_understood == []


def test_pure_widget_modules_under_node() -> None:
    """widget/test/*.test.mjs (backoff, sequencer, plurals, language choice) when Node is here."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the widget's own unit tests need it (npm test)")
    tests = sorted(str(p) for p in (ROOT / "widget" / "test").glob("*.test.mjs"))
    assert tests
    result = subprocess.run(
        [node, "--test", *tests], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
