"""Spreadsheets (CSV, XLSX) as text: one table per sheet, one row per line, each cell
named by its column; each row's locator is its cell reference ("Sheet1!A12", "row 12")."""

from __future__ import annotations

import csv
import io
from typing import Any

from rag.reading.written import Written, one_line

_DELIMITERS = (",", ";", "\t", "|")


def csv_to_text(text: str) -> Written:
    """The first row is the header (as spreadsheet exports write it); the delimiter is the
    one of `,;<tab>|` it holds most of (csv.Sniffer's regexes can take long on odd input)."""
    header_line = text.split("\n", 1)[0]
    delimiter = max(_DELIMITERS, key=header_line.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows = [row for row in reader if any(c.strip() for c in row)]
    written = Written()
    if rows:
        header, body = rows[0], rows[1:]
        written.add_table(body, header, [f"row {n}" for n in range(2, len(body) + 2)])
    return written


def xlsx_to_text(workbook: Any) -> Written:
    """Each sheet under its name as a heading; cached values, not formulas."""
    written = Written()
    for sheet in workbook.worksheets:
        rows = []
        labels = []
        for cells in sheet.iter_rows():
            values = ["" if c.value is None else one_line(str(c.value)) for c in cells]
            if not any(values):
                continue
            rows.append(values)
            labels.append(f"{sheet.title}!A{cells[0].row}")
        if not rows:
            continue
        written.mark(sheet.title)
        written.add(f"## {one_line(sheet.title)}")
        written.add_table(rows[1:], rows[0], labels[1:])
    return written
