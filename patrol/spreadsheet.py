"""Every spreadsheet cell the project writes (CSV, XLSX, rejects files, headers), escaped one way.

A spreadsheet program runs a cell that starts with ``= + - @`` (or a tab) as a formula;
a carriage return inside a field starts a new row in some of them, so every line of a
multi-line cell is guarded too. Numbers keep their sign. In XLSX a text cell is stored
as text, never as a formula, so no apostrophe shows there.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

_FORMULA_START = ("=", "+", "-", "@", "\t")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _safe_line(line: str) -> str:
    return "'" + line if line[:1] in _FORMULA_START and not _is_number(line) else line


def safe_cell(value: Any) -> Any:
    r"""A cell value a spreadsheet will show, never run.

    Text that would start a formula (on its first line or after any line break) gets a
    leading apostrophe; a bare carriage return becomes a line feed; numbers, times and
    other non-text values pass unchanged; a missing value becomes ``""``.

    Examples
    --------
    >>> safe_cell("=1+1"), safe_cell("ok\r=cmd"), safe_cell("-12.5"), safe_cell(3)
    ("'=1+1", "ok\n'=cmd", '-12.5', 3)
    """
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if not isinstance(value, str):
        return value
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(_safe_line(line) for line in text.split("\n"))


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell and every column name passed through :func:`safe_cell`."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col].dtype):
            out[col] = out[col].map(safe_cell)
    out.columns = [safe_cell(str(c)) for c in out.columns]
    return out


def write_csv(frame: pd.DataFrame, target: str | Path | TextIO, *, bom: bool = True) -> None:
    """Write ``frame`` as CSV with every cell escaped (UTF-8 with a BOM for Excel, unless to a stream)."""
    if isinstance(target, str | Path):
        safe_frame(frame).to_csv(target, index=False, encoding="utf-8-sig" if bom else "utf-8")
    else:
        safe_frame(frame).to_csv(target, index=False)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as escaped CSV bytes (UTF-8 with a BOM, as Excel wants)."""
    buf = io.StringIO()
    safe_frame(frame).to_csv(buf, index=False)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def rows_csv_bytes(header: list[str], rows: list[list[Any]]) -> bytes:
    """Rows (a header and lists of values) as escaped CSV bytes with a BOM."""
    return csv_bytes(pd.DataFrame(rows, columns=header) if rows else pd.DataFrame(columns=header))


def xlsx_bytes(sheets: Mapping[str, pd.DataFrame], formats: Mapping[str, str] | None = None) -> bytes:
    """A workbook of one sheet per frame; every text cell stored as text, never as a formula.

    ``formats`` maps a column header to an Excel number format (``0.0%`` for a rate kept as
    a number: sortable, and shown as a percentage), applied in every sheet with that column;
    columns are as wide as their header or widest value.
    """
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as xl:
        for name, frame in sheets.items():
            frame.to_excel(xl, sheet_name=name[:31], index=False)
            ws = xl.sheets[name[:31]]
            for j, column in enumerate(frame.columns, start=1):
                letter = ws.cell(row=1, column=j).column_letter
                shown = [str(column), *(str(v) for v in frame[column].head(200))]
                ws.column_dimensions[letter].width = min(60, 2 + max(_width(t) for t in shown))
                number_format = (formats or {}).get(str(column))
                if number_format:
                    for row in ws.iter_rows(min_row=2, min_col=j, max_col=j):
                        row[0].number_format = number_format
        for ws in xl.book.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    if cell.data_type == "f":  # openpyxl reads any text starting with "=" as a formula
                        cell.data_type = "s"
    return buffer.getvalue()


def _width(text: str) -> int:
    """Display width of a cell's text (a Chinese character takes two columns)."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)
