"""One escaping for every spreadsheet cell the project writes (CSV, XLSX, rejects files, headers)."""

from __future__ import annotations

import io
import re

import openpyxl
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from patrol.spreadsheet import csv_bytes, rows_csv_bytes, safe_cell, xlsx_bytes

TRIGGERS = ("=", "+", "-", "@", "\t")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=cmd", "'\t=cmd"),
        ("ok\r=cmd", "ok\n'=cmd"),
        ("ok\r\n+cmd", "ok\n'+cmd"),
        ("\r=cmd", "\n'=cmd"),
        ("-12.5", "-12.5"),
        ("+86", "+86"),
        ("小区乱停车", "小区乱停车"),
        (None, ""),
        (float("nan"), ""),
        (7, 7),
    ],
)
def test_a_cell_that_would_run_as_a_formula_is_shown_as_text(value, expected):
    assert safe_cell(value) == expected


@given(st.text(alphabet=st.sampled_from(list("=+-@\t\r\nab1. ")), max_size=30))
def test_no_line_of_an_escaped_cell_starts_a_formula(text):
    out = safe_cell(text)
    assert "\r" not in out
    for line in out.split("\n"):
        assert not line.startswith(TRIGGERS) or _is_number(line)


def _csv_lines(data: bytes) -> list[str]:
    """Every physical line of a CSV file, split the way a lenient spreadsheet would (CR, LF, CRLF)."""
    return re.split(r"\r\n|\r|\n", data.decode("utf-8-sig"))


def test_a_csv_with_a_bare_carriage_return_or_a_leading_tab_puts_no_formula_on_any_line():
    frame = pd.DataFrame({"=header": ['ok\r=HYPERLINK("http://x")', "\t=1+1", "-3"], "n": [1, 2, -3]})
    lines = _csv_lines(csv_bytes(frame))
    assert lines[0].startswith("'=header")
    for line in lines:
        cell = line.lstrip('"')
        assert not cell.startswith(("=", "+", "@", "\t")), line


def test_the_rejects_header_is_escaped_too():
    data = rows_csv_bytes(["line", "reason", "=cmd"], [[2, "unknown item", "@x"]])
    assert _csv_lines(data)[:2] == ["line,reason,'=cmd", "2,unknown item,'@x"]


def test_a_workbook_stores_formula_like_text_as_text():
    data = xlsx_bytes(
        {"排名": pd.DataFrame({"乡镇": ['=HYPERLINK("http://x","新嘉")', "解放街道"], "rank": [1, 2]})}
    )
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    assert ws["A2"].data_type == "s" and ws["A2"].value == '=HYPERLINK("http://x","新嘉")'
    assert ws["B2"].value == 1
