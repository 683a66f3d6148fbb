"""sacflow-report on real tiny runs of both regimes, and on a hand-made case whose numbers are known."""

import itertools

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import TINY, TINY_VELOCITY, compose_config, o2o_overrides
from omegaconf import OmegaConf

from sacflow.report.aggregate import summarize
from sacflow.report.cli import main
from sacflow.report.markdown import number
from sacflow.report.runs import ReportError, group_runs, load_runs
from sacflow.trainers.offline_to_online import OfflineToOnlineTrainer
from sacflow.trainers.online import OnlineTrainer

pytestmark = [pytest.mark.filterwarnings("ignore:.*precision lowered:UserWarning"),
              pytest.mark.filterwarnings("ignore:.*DISPLAY environment variable")]

FROM_SCRATCH = {"sac_flow_flow_g-crossq": ["velocity=flow_g", *TINY_VELOCITY["flow_g"]],
                "sac_gaussian-sac": ["agent=sac_gaussian", "critic=sac"]}


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory, tiny_ogbench_dir):
    """Two seeds of two from-scratch methods and of one offline-to-online method, run for real."""
    root = tmp_path_factory.mktemp("sweep")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # networks this small run 2-3x faster without a second thread on a busy machine
    try:
        for (method, overrides), seed in itertools.product(FROM_SCRATCH.items(), (0, 1)):
            out = root / method / f"seed{seed}"
            cfg = compose_config([*TINY, *overrides, "total_steps=200", "eval.every=0", f"seed={seed}", f"out_dir={out}"])
            OnlineTrainer(cfg, out).run()
        for seed in (0, 1):
            out = root / "qc_fql" / f"seed{seed}"
            overrides = [*o2o_overrides("cube_double", "qc_fql", tiny_ogbench_dir), f"seed={seed}", f"out_dir={out}"]
            OfflineToOnlineTrainer(compose_config(overrides), out).run()
    finally:
        torch.set_num_threads(threads)
    return root


def test_report_of_a_real_sweep(tiny_sweep, tmp_path):
    assert main([str(tiny_sweep), "--out", str(tmp_path), "--reps", "2000"]) == 0
    assert (tmp_path / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (tmp_path / "report.md").read_text()

    results = {(r.task, r.method): r for r in summarize(group_runs(load_runs([tiny_sweep])), 50, 0.1, 2000)}
    assert set(results) == {("InvertedPendulum-v4", m) for m in FROM_SCRATCH} | {
        ("cube-double-singletask-task2-v0", "qc_fql")}
    for (task, method), result in results.items():
        assert result.seeds == [0, 1]
        step, scores = independent_finals([tiny_sweep / method / f"seed{seed}" for seed in (0, 1)], method == "qc_fql")
        assert result.final.step == step
        assert result.final.scores.tolist() == pytest.approx(scores, abs=1e-12)
        assert result.final.mean.value == pytest.approx(np.mean(scores), abs=1e-12)
        assert result.final.mean.low <= result.final.mean.value <= result.final.mean.high
        assert f"| {task} | {method} | 2 |" in text and number(result.final.mean.value) in text
    # cube-double is a task with published numbers: QC-FQL's sits beside ours, FQL's on its own row
    assert "| cube-double-singletask-task2-v0 | qc_fql (QC-FQL) |" in text and "| 1.00 | 2M | [1] |" in text
    assert "| cube-double-singletask-task2-v0 | fql (FQL) | — | — | 0.92 [0.90, 0.94] | 2M | [1] |" in text
    assert "plot_data/ogbench-individual.pkl" in text


def independent_finals(run_dirs, o2o: bool) -> tuple[float, list[float]]:
    """(step, scores) straight from the CSVs, up to the step every run has reached: the success of
    the evaluation there, or the mean return of the episodes ending in the last 10% of the steps
    (else the return interpolated between the episodes around that step)."""
    tables = [pd.read_csv(d / ("eval.csv" if o2o else "train.csv")) for d in run_dirs]
    end = float(min(t["step"].max() for t in tables))
    if o2o:
        return end, [float(t.loc[t["step"] == end, "eval/success"].item()) for t in tables]
    scores = []
    for t in tables:
        window = t[(t["step"] > 0.9 * end) & (t["step"] <= end)]
        scores.append(float(window["train/episode_return"].mean() if len(window)
                            else np.interp(end, t["step"], t["train/episode_return"])))
    return end, scores


# ---------------------------------------------------------------- a hand-made case
HOPPER_SAC = ["env=hopper", "agent=sac_gaussian", "critic=sac"]
FINAL = {0: 10.0, 1: 20.0, 2: 30.0, 3: 100.0}  # each seed's return at its last episode


def hand_made_run(root, seed, final, last_step=1000, overrides=(), steps=None):
    """A Hopper Gaussian-SAC run directory: the real resolved config, and a train.csv with one
    episode every 100 steps (or at ``steps``) whose return grows linearly to ``final`` at step 1000."""
    out = root / f"seed{seed}"
    out.mkdir(parents=True)
    cfg = compose_config([*HOPPER_SAC, *overrides, f"seed={seed}", f"out_dir={out}"])
    (out / "config_resolved.yaml").write_text(yaml.safe_dump(OmegaConf.to_container(cfg, resolve=True)))
    steps = np.arange(100, last_step + 1, 100) if steps is None else np.asarray(steps)
    pd.DataFrame({"step": steps, "train/episode_return": final * steps / 1000}).to_csv(out / "train.csv", index=False)
    return out


def exact_bootstrap(scores, statistic):
    """Every one of the n**n equally likely resamples of the seeds: the bootstrap distribution itself."""
    return np.array([statistic(np.asarray(scores)[list(i)]) for i in itertools.product(range(len(scores)), repeat=len(scores))])


def iqm(x):
    x = np.sort(x)
    cut = len(x) // 4  # the interquartile mean drops the lowest and highest quarter
    return x[cut:len(x) - cut].mean()


def test_hand_made_scores_intervals_and_curve(tmp_path):
    for seed, final in FINAL.items():
        hand_made_run(tmp_path, seed, final)
    (result,) = summarize(group_runs(load_runs([tmp_path])), 10, 0.1, 5_000)
    scores = list(FINAL.values())
    assert (result.task, result.method, result.final.step) == ("Hopper-v4", "sac_gaussian-sac", 1000)
    assert result.final.scores.tolist() == scores  # the last 10% of 1000 steps holds one episode: step 1000
    assert result.final.mean.value == pytest.approx(40.0) and result.final.iqm.value == pytest.approx(25.0)
    for estimate, statistic in ((result.final.mean, np.mean), (result.final.iqm, iqm)):
        low, high = np.percentile(exact_bootstrap(scores, statistic), [2.5, 97.5])
        # 5000 resamples against the exact distribution, whose atoms lie 2.5 apart
        assert estimate.low == pytest.approx(low, abs=2.5) and estimate.high == pytest.approx(high, abs=2.5)
    # 10 grid cells of 100 steps hold one episode each: the curve is the seeds' mean return
    assert result.curve.steps.tolist() == pytest.approx(list(range(100, 1001, 100)))
    assert result.curve.mean == pytest.approx(np.mean(scores) * result.curve.steps / 1000)


def test_equal_seeds_have_a_point_interval_and_beside_cleanrl(tmp_path):
    for seed in range(3):
        hand_made_run(tmp_path / "runs", seed, 500.0)
    assert main([str(tmp_path / "runs"), "--out", str(tmp_path / "report"), "--reps", "500"]) == 0
    text = (tmp_path / "report" / "report.md").read_text()
    assert "| Hopper-v4 | sac_gaussian-sac | 3 | 1k | 500 [500, 500] | 500 [500, 500] |" in text
    assert "| Hopper-v4 | sac_gaussian-sac (CleanRL SAC) | 500 [500, 500] | 1k | 2310 ± 343 (std) | 1M | [1] |" in text
    assert "vwxyzjn/cleanrl" in text


def test_a_run_in_progress_is_read_as_it_stands(tmp_path):
    hand_made_run(tmp_path, 0, 100.0)
    hand_made_run(tmp_path, 1, 100.0, last_step=500)  # still running
    (result,) = summarize(group_runs(load_runs([tmp_path])), 5, 0.1, 500)
    assert result.final.step == 500 and result.curve.steps[-1] == 500
    assert result.final.scores.tolist() == [50.0, 50.0]
    # a run just started, one short episode so far: the others have no episode that early and
    # are held at their first one
    hand_made_run(tmp_path, 2, 100.0, steps=[50])
    (result,) = summarize(group_runs(load_runs([tmp_path])), 5, 0.1, 500)
    assert result.final.step == 50 and result.final.scores.tolist() == [10.0, 10.0, 5.0]
    assert result.curve.mean[-1] == pytest.approx(25 / 3)


def test_runs_that_are_not_seeds_of_one_experiment_are_refused(tmp_path, capsys):
    hand_made_run(tmp_path, 0, 1.0)
    hand_made_run(tmp_path, 1, 1.0, overrides=["batch_size=64"])
    with pytest.raises(ReportError, match=r"differ in batch_size \(512 vs 64\); report them separately"):
        group_runs(load_runs([tmp_path]))
    assert main([str(tmp_path), "--out", str(tmp_path / "report")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("sacflow-report: Hopper-v4 sac_gaussian-sac: ")
    assert line.endswith("differ in batch_size (512 vs 64); report them separately")


def test_one_seed_twice_is_refused_with_the_way_out(tmp_path, capsys):
    # Seed 1 copied to another folder (seed 0 sorts first, so the two are not compared with it): the
    # message names both copies and how to report them.
    hand_made_run(tmp_path / "a", 0, 1.0)
    first, copy = hand_made_run(tmp_path / "a", 1, 1.0), hand_made_run(tmp_path / "b", 1, 1.0)
    assert main([str(tmp_path), "--out", str(tmp_path / "report")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (f"sacflow-report: {first} and {copy} are both seed 1 of Hopper-v4 sac_gaussian-sac; report them "
                    f"separately (sacflow-report {first}, sacflow-report {copy}) or pass only one of them")


def test_one_seed_twice_with_other_overrides_names_the_difference(tmp_path, capsys):
    hand_made_run(tmp_path / "a", 0, 1.0)
    hand_made_run(tmp_path / "a", 1, 1.0)
    hand_made_run(tmp_path / "b", 1, 1.0, overrides=["gamma=0.98"])  # seed 1 again, not next to the first run
    assert main([str(tmp_path), "--out", str(tmp_path / "report")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "are both seed 1 of Hopper-v4 sac_gaussian-sac (different experiments: they differ in gamma (0.99 vs 0.98))" in line
    assert line.endswith("or pass only one of them")
