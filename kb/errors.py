"""One base exception for the knowledge base; format errors say where the bad row is."""

from __future__ import annotations


class KbError(Exception):
    """Base of every error the kb package raises on purpose."""


class KbFormatError(KbError, ValueError):
    """A row of an import file that cannot become an article."""

    def __init__(self, source: str, line: int, message: str) -> None:
        self.source = source
        self.line = line
        self.message = message
        super().__init__(f"{source}:{line}: {message}")
