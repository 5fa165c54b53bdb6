"""Text bound for a CSV that people open in a spreadsheet: the one rule every export uses."""

from __future__ import annotations

from collections.abc import Iterable

# A cell starting with one of these is read as a formula (tab and CR by some importers that
# strip them first), so =HYPERLINK(...) in an e-mail or a reason would run when opened.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """``value`` as cell text that a spreadsheet shows rather than evaluates."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def safe_row(values: Iterable[object]) -> list[object]:
    """A row's text cells neutralised; numbers stay numbers (a debit's -1 is no formula)."""
    return [safe_cell(v) if isinstance(v, str) else ("" if v is None else v) for v in values]
