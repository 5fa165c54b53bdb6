"""The reply an agent inserts from an article: its written answer, or whole sentences of
its body, never a sentence cut in the middle."""

from __future__ import annotations

import re

from kb.article import Article

# Enough for a chat reply; the agent opens the article for the rest.
REPLY_MAX_CHARS = 600
# A sentence ends at . ! ? … (with closing quotes or brackets) before a space and a capital
# letter or an opening quote. "approx. 3 days" and "e.g. a" stay one sentence: a digit or a
# lower-case word follows.
_END = re.compile(r"[.!?…][\"'»”)\]]*\s+")
_OPENERS = "\"'«„“(["
_SPACES = re.compile(r"\s+")


def sentences(text: str) -> list[str]:
    """The sentences of one paragraph, spaces collapsed."""
    flat = _SPACES.sub(" ", text).strip()
    out: list[str] = []
    start = 0
    for end in _END.finditer(flat):
        following = flat[end.end() : end.end() + 1]
        if following and (following.isupper() or following in _OPENERS):
            out.append(flat[start : end.end()].strip())
            start = end.end()
    if flat[start:].strip():
        out.append(flat[start:].strip())
    return out


def whole_reply(article: Article, max_chars: int = REPLY_MAX_CHARS) -> str:
    """The article's answer when it has one; else as many leading sentences of the body as
    fit in ``max_chars`` (at least the first, however long: half a sentence misleads)."""
    if article.answer.strip():
        return article.answer.strip()
    # Paragraphs keep their break; sentences within one are joined by a space.
    out: list[str] = []
    used = 0
    for paragraph in re.split(r"\n\s*\n", article.body.strip()):
        joined: list[str] = []
        for sentence in sentences(paragraph):
            cost = len(sentence) + 1
            if out or joined:
                if used + cost > max_chars:
                    if joined:
                        out.append(" ".join(joined))
                    return "\n\n".join(out)
            joined.append(sentence)
            used += cost
        if joined:
            out.append(" ".join(joined))
    return "\n\n".join(out)
