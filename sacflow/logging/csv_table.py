"""Append-only CSV file holding one table of metrics (e.g. ``train.csv``).

The CSV files are the source of truth for a run's metrics, so the writer is
careful about three things: it never loses a column, it never leaves a
half-written file behind (whole-file rewrites go through ``os.replace``), and
floats are written with ``repr`` so they read back bit-exactly.
"""

from __future__ import annotations

import csv
import operator
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def _format(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "item"):  # numpy / torch scalars -> python numbers
        value = value.item()
    if isinstance(value, bool):  # keep boolean metrics numeric so they can be plotted
        return str(int(value))
    if isinstance(value, float):
        return repr(value)  # shortest string that round-trips exactly
    return str(value)


class CsvTable:
    """One CSV table; rows are dicts that must contain an integer ``'step'``."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self._open_for_append()  # creates the file if missing, never truncates
        self._columns, rows = self._read()
        if self._ends_mid_line():
            # A crash mid-write can leave a row without its newline; appending
            # would glue the next row onto it, so drop the fragment.
            self._rewrite(self._columns if rows else [], rows[:-1])

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    def write(self, row: Mapping[str, Any]) -> None:
        """Append one row; unknown keys extend the header, missing keys stay empty."""
        if "step" not in row:
            raise KeyError("CsvTable rows need a 'step' entry")
        row = {**row, "step": operator.index(row["step"])}  # rejects float steps
        new_columns = [key for key in row if key not in self._columns]
        if new_columns:
            if not self._columns:  # a fresh table: keep 'step' as the first column
                new_columns.sort(key=lambda key: key != "step")
            _, rows = self._read()
            self._rewrite(self._columns + new_columns, rows)
        csv.writer(self._file, lineterminator="\n").writerow(
            [_format(row.get(column)) for column in self._columns]
        )
        self._file.flush()

    def truncate_after(self, step: int) -> None:
        """Drop every row logged after ``step`` (rows a resumed run will log again)."""
        columns, rows = self._read()
        if "step" not in columns:
            return
        step_index = columns.index("step")
        kept = [row for row in rows if int(row[step_index]) <= step]
        if len(kept) != len(rows):
            self._rewrite(columns, kept)

    def close(self) -> None:
        self._file.close()

    def _open_for_append(self):
        return open(self.path, "a", newline="", encoding="utf-8")

    def _read(self) -> tuple[list[str], list[list[str]]]:
        with open(self.path, newline="", encoding="utf-8") as f:
            lines = list(csv.reader(f))
        if not lines:
            return [], []
        return lines[0], lines[1:]

    def _ends_mid_line(self) -> bool:
        with open(self.path, "rb") as f:
            if f.seek(0, os.SEEK_END) == 0:
                return False
            f.seek(-1, os.SEEK_END)
            return f.read(1) != b"\n"

    def _rewrite(self, columns: list[str], rows: list[list[str]]) -> None:
        """Replace the whole file atomically: a crash leaves either the old or the new file."""
        self._file.close()
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            if columns:
                writer.writerow(columns)
            writer.writerows(row + [""] * (len(columns) - len(row)) for row in rows)
        os.replace(tmp, self.path)
        self._columns = columns
        self._file = self._open_for_append()
