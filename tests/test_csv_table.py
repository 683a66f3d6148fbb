import csv
import math
import struct

import numpy as np
import pytest
import torch

from sacflow.logging.csv_table import CsvTable


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_append_writes_header_then_rows(tmp_path):
    table = CsvTable(tmp_path / "train.csv")
    table.write({"train/return": 1.5, "step": 10})
    table.write({"step": 20, "train/return": 2.5})
    # Flushed after each write: readable before close.
    assert read_rows(tmp_path / "train.csv") == [
        ["step", "train/return"],
        ["10", "1.5"],
        ["20", "2.5"],
    ]
    table.close()


def test_missing_key_gives_empty_cell_and_step_is_required(tmp_path):
    table = CsvTable(tmp_path / "t.csv")
    table.write({"step": 1, "a": 1, "b": 2})
    table.write({"step": 2, "b": 3})
    with pytest.raises(KeyError):
        table.write({"a": 1})
    with pytest.raises(TypeError):
        table.write({"step": 1.5, "a": 1})
    table.close()
    assert read_rows(tmp_path / "t.csv") == [["step", "a", "b"], ["1", "1", "2"], ["2", "", "3"]]


def test_reopen_continues_without_truncating(tmp_path):
    path = tmp_path / "t.csv"
    table = CsvTable(path)
    table.write({"step": 1, "a": 1})
    table.close()

    table = CsvTable(path)
    assert table.columns == ["step", "a"]
    table.write({"step": 2, "a": 2})
    table.close()
    assert read_rows(path) == [["step", "a"], ["1", "1"], ["2", "2"]]


def test_new_column_mid_run_extends_header_and_keeps_old_rows(tmp_path):
    path = tmp_path / "t.csv"
    table = CsvTable(path)
    table.write({"step": 1, "a": 1})
    table.write({"step": 2, "a": 2})
    table.write({"step": 3, "b": 30, "a": 3})
    table.write({"step": 4, "a": 4})
    table.close()
    assert read_rows(path) == [
        ["step", "a", "b"],
        ["1", "1", ""],
        ["2", "2", ""],
        ["3", "3", "30"],
        ["4", "4", ""],
    ]
    assert not (tmp_path / "t.csv.tmp").exists()


def test_truncate_after_drops_later_rows_and_appending_continues(tmp_path):
    path = tmp_path / "t.csv"
    table = CsvTable(path)
    for step in range(1, 6):
        table.write({"step": step * 100, "a": step})
    table.close()

    table = CsvTable(path)
    table.truncate_after(300)
    table.write({"step": 400, "a": 40})
    table.close()
    assert read_rows(path) == [["step", "a"], ["100", "1"], ["200", "2"], ["300", "3"], ["400", "40"]]


def test_partial_last_line_from_a_crash_is_dropped(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("step,a\n1,1\n2,2\n3,")  # killed while writing row 3
    table = CsvTable(path)
    table.write({"step": 3, "a": 3})
    table.close()
    assert read_rows(path) == [["step", "a"], ["1", "1"], ["2", "2"], ["3", "3"]]


def bits(x):
    return struct.pack("<d", x)


def test_floats_round_trip_bit_exact(tmp_path):
    rng = np.random.default_rng(0)
    values = [0.1, 1 / 3, -0.0, 5e-324, 1.7976931348623157e308, math.pi * 1e-20, math.inf, -math.inf]
    values += list(rng.standard_normal(50) * 10.0 ** rng.integers(-30, 30, size=50))
    table = CsvTable(tmp_path / "t.csv")
    for step, value in enumerate(values):
        table.write({"step": step, "x": value})
    table.write({"step": len(values), "x": np.float32(0.1), "n": np.int64(7), "t": torch.tensor(0.2)})
    table.write({"step": len(values) + 1, "x": math.nan, "flag": True})
    table.close()

    rows = read_rows(tmp_path / "t.csv")[1:]
    for row, value in zip(rows, values):
        assert bits(float(row[1])) == bits(float(value))
    numpy_row, nan_row = rows[-2], rows[-1]
    assert float(numpy_row[1]) == float(np.float32(0.1))  # float32 value preserved exactly
    assert numpy_row[2] == "7"
    assert float(numpy_row[3]) == torch.tensor(0.2).item()
    assert math.isnan(float(nan_row[1]))
    assert nan_row[4] == "1"
