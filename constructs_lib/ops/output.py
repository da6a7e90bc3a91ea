"""Plain-text tables for the ``mlops`` commands' human output (``--json`` prints the data instead)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any


def cell(value: Any) -> str:
    """How one value reads in a table: ``-`` for missing, floats without trailing noise."""
    if value is None or value == "":
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value == int(value):
            return str(int(value))
        # Two decimals for ordinary values; small ones (a 0.005 s budget) keep their significant digits.
        return f"{value:.2f}".rstrip("0").rstrip(".") if abs(value) >= 0.1 else f"{value:.3g}"
    return str(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Columns aligned on the widest cell; numbers right-aligned, text left-aligned; no trailing spaces."""
    text_rows = [[cell(v) for v in row] for row in rows]
    numeric = [
        bool(text_rows) and all(_is_number(row[i]) for row in text_rows if row[i] != "-")
        for i in range(len(headers))
    ]
    widths = [max([len(h)] + [len(row[i]) for row in text_rows]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return "  ".join(parts).rstrip()

    return "\n".join([line(list(headers)), line(["-" * w for w in widths])] + [line(r) for r in text_rows])


def fields(pairs: Iterable[tuple[str, Any]]) -> str:
    """A ``label: value`` block with the values aligned (for one object's properties)."""
    pairs = [(label, cell(value)) for label, value in pairs]
    width = max((len(label) for label, _ in pairs), default=0)
    return "\n".join(f"{(label + ':').ljust(width + 1)} {value}".rstrip() for label, value in pairs)


def _is_number(text: str) -> bool:
    try:
        float(text.rstrip("%"))
    except ValueError:
        return False
    return True


def duration(seconds: float) -> str:
    """A long span for a table: minutes below an hour, hours (one decimal) below two days, then days."""
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    value, unit = (seconds / 3600, "h") if seconds < 2 * 86400 else (seconds / 86400, "d")
    return f"{round(value, 1):g} {unit}"
