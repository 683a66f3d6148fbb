"""A tiny offline-to-online run of every agent on each suite, and of the CLI entry point."""

import subprocess
import sys

import pandas as pd
import pytest
from conftest import O2O_METHODS, ROOT, compose_config, o2o_overrides

from sacflow.trainers.offline_to_online import OfflineToOnlineTrainer

pytestmark = [pytest.mark.filterwarnings("ignore:.*precision lowered:UserWarning"),
              pytest.mark.filterwarnings("ignore:.*DISPLAY environment variable")]


@pytest.mark.parametrize("method", sorted(O2O_METHODS))
@pytest.mark.parametrize("task", ["cube_double", "lift"])
def test_every_o2o_agent_trains_on_each_suite(task, method, tmp_path, request):
    data = request.getfixturevalue("tiny_ogbench_dir" if task == "cube_double" else "tiny_lift_file")
    cfg = compose_config([*o2o_overrides(task, method, data), f"out_dir={tmp_path}"])
    OfflineToOnlineTrainer(cfg, tmp_path).run()
    updates = pd.read_csv(tmp_path / "update.csv")
    offline, online = updates[updates["phase"] == 0], updates[updates["phase"] == 1]
    assert offline["step"].tolist() == [10, 20] and online["step"].tolist() == [30, 40, 50]
    assert updates["losses/critic"].notna().all() and offline["losses/bc_flow"].notna().all()
    # SAC Flow fine-tunes with the proximity-regularised SAC loss; the FQL family keeps one update
    online_loss = "losses/proximity" if method.startswith("sac_flow") else "losses/bc_flow"
    assert online[online_loss].notna().all()
    train = pd.read_csv(tmp_path / "train.csv")
    assert (train["step"] > 20).all() and (train["train/episode_length"] <= 12).all()
    evals = pd.read_csv(tmp_path / "eval.csv")
    assert evals["step"].tolist() == [20, 50] and evals["eval/success"].between(0, 1).all()
    for name in ("learning_curve.png", "run_info.json", "checkpoints/latest.pt"):
        assert (tmp_path / name).exists(), name


def test_o2o_entry_point_runs_and_names_a_missing_dataset(tmp_path, tiny_ogbench_dir, subprocess_env):
    args = [*o2o_overrides("cube_double", "qc_fql", tiny_ogbench_dir), f"out_dir={tmp_path / 'run'}"]
    result = subprocess.run([sys.executable, "launch.py", *args], cwd=ROOT, env=subprocess_env, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "run" / "eval.csv").exists()
    missing = [*o2o_overrides("lift", "qc_fql", tmp_path / "none.hdf5"), f"out_dir={tmp_path / 'missing'}"]
    result = subprocess.run([sys.executable, "launch.py", *missing], cwd=ROOT, env=subprocess_env, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(f"sacflow: dataset error: {tmp_path / 'none.hdf5'}: ")
