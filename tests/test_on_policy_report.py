"""The report tool picks up on-policy runs: PPO judged by training returns, ReinFlow by evaluation success."""

import pytest
from conftest import compose_config
from test_ppo import PPO_TINY
from test_reinflow import REINFLOW_TINY

from sacflow.report.cli import main
from sacflow.report.runs import group_runs, load_runs
from sacflow.trainers.on_policy import OnPolicyTrainer


@pytest.mark.filterwarnings("ignore:.*precision lowered:UserWarning")
def test_report_lists_ppo_and_reinflow_runs(tmp_path, tiny_lift_file):
    runs = tmp_path / "runs"
    for seed in (0, 1):
        out = runs / "ppo" / f"seed{seed}"
        cfg = compose_config([*PPO_TINY, "total_steps=256", "eval.every=0", f"seed={seed}", f"out_dir={out}"])
        OnPolicyTrainer(cfg, out).run()
    out = runs / "reinflow" / "seed0"
    cfg = compose_config([*REINFLOW_TINY, f"dataset.path={tiny_lift_file}", "pretrain_steps=10", "total_steps=24",
                          "eval.every=24", f"out_dir={out}"])
    OnPolicyTrainer(cfg, out).run()

    groups = group_runs(load_runs([runs]))
    assert set(groups) == {("InvertedPendulum-v4", "ppo"), ("lift-mh-low_dim", "reinflow")}
    ppo, reinflow = groups[("InvertedPendulum-v4", "ppo")], groups[("lift-mh-low_dim", "reinflow")]
    assert [r.seed for r in ppo] == [0, 1] and ppo[0].metric.column == "train/episode_return"
    assert reinflow[0].metric.column == "eval/success" and reinflow[0].steps.tolist() == [10.0, 34.0]

    assert main([str(runs), "--out", str(tmp_path / "report"), "--reps", "200"]) == 0
    text = (tmp_path / "report" / "report.md").read_text()
    assert "| InvertedPendulum-v4 | ppo | 2 |" in text and "| lift-mh-low_dim | reinflow | 1 |" in text
