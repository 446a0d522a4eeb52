"""Text tables for the terminal, laid out by pandas (``DataFrame.to_string``)."""
from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd


def _cell(value, decimals: int) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{decimals}f}"
    return str(value)


def text_table(rows: Sequence[Mapping], columns: Mapping[str, str], decimals: Mapping[str, int] | None = None,
               default_decimals: int = 3) -> str:
    """``rows`` (dicts) as an aligned text table.

    ``columns``: row key -> header, in display order. Floats print with ``decimals[key]`` places
    (else ``default_decimals``), None as '-'. A column holding any text is left-aligned, the others
    (numbers) right-aligned. No rows: the header line alone.
    """
    decimals = decimals or {}
    headers = list(columns.values())
    if not rows:
        return "  ".join(headers)
    cells = {h: [_cell(r.get(k), decimals.get(k, default_decimals)) for r in rows] for k, h in columns.items()}
    text = {h for k, h in columns.items() if any(isinstance(r.get(k), str) for r in rows)}  # left-aligned
    widths = {h: max(len(h), *(len(c) for c in cells[h])) for h in headers}
    # Left-aligned text columns: the header and the cells padded to the column's width.
    frame = pd.DataFrame({(h.ljust(widths[h]) if h in text else h):
                          ([c.ljust(widths[h]) for c in cells[h]] if h in text else cells[h]) for h in headers})
    gaps = [widths[h] + (1 if i else 0) for i, h in enumerate(headers)]  # two spaces between columns
    out = frame.to_string(index=False, col_space=gaps)
    return "\n".join(line.rstrip() for line in out.splitlines())
