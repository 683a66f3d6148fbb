"""Smoke test of the throughput benchmark: one tiny round, in-process, in a few seconds."""

import importlib.util
import json
import sys

from conftest import ROOT


def load_benchmark():
    spec = importlib.util.spec_from_file_location("throughput", ROOT / "benchmarks" / "throughput.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_quick_run_has_the_requested_row(tmp_path, capsys):
    argv = [
        "--quick", "--configs", "flow_g-crossq", "--env-dims", "hopper", "--rounds", "1", "--updates", "6",
        "--threads", "1", "--latency-calls", "5", "--json", str(tmp_path / "out.json"),
        # Applied to every row (the Gaussian yardsticks too), so only keys that all rows share.
        "--override", "batch_size=32", "--override", "critic.network.hidden=[32,32]",
    ]  # fmt: skip
    result = load_benchmark().main(argv)
    names = [row["config"] for row in result["rows"]]
    assert names == ["Y1", "Y2", "flow_g-crossq"]  # the yardsticks always run: the ratios need them
    row = result["rows"][-1]
    assert row["k"] == 4 and row["ms_per_update"]["median"] > 0 and row["gflop_per_update"] > 0
    assert len(row["ratio_to_Y2"]["rounds"]) == 1
    assert result["contended_rounds"] in (0, 1)  # may be either on a busy test machine
    assert "| flow_g-crossq | 4 |" in capsys.readouterr().out
    assert json.loads((tmp_path / "out.json").read_text())["rows"][-1]["config"] == "flow_g-crossq"
