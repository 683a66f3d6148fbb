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
        "--threads", "1", "--latency-calls", "5", "--json", str(tmp_path / "out.json"), "--variants", "eager", "bf16",
        # Applied to every row (the Gaussian yardsticks too), so only keys that all rows share.
        "--override", "batch_size=32", "--override", "critic.network.hidden=[32,32]",
    ]  # fmt: skip
    result = load_benchmark().main(argv)
    names = [(row["config"], row["variant"]) for row in result["rows"]]
    # The yardsticks always run, once per variant: the ratios need them.
    assert names == [(n, v) for v in ("eager", "bf16") for n in ("Y1", "Y2", "flow_g-crossq")]
    eager, bf16 = result["rows"][2], result["rows"][-1]
    assert eager["k"] == 4 and eager["ms_per_update"]["median"] > 0 and eager["gflop_per_update"] > 0
    assert len(eager["ratio_to_Y2"]["rounds"]) == 1 and eager["ratio_to_eager"]["median"] == 1.0
    ratio = bf16["ms_per_update"]["rounds"][0] / eager["ms_per_update"]["rounds"][0]
    assert bf16["ratio_to_eager"]["median"] == ratio
    assert result["contended_rounds"] in (0, 1)  # may be either on a busy test machine
    out = capsys.readouterr().out
    assert "| flow_g-crossq | eager | 4 |" in out and "| flow_g-crossq | bf16 | 4 |" in out
    assert json.loads((tmp_path / "out.json").read_text())["rows"][-1]["variant"] == "bf16"
