import pytest
import yaml
from conftest import TINY, TINY_VELOCITY, compose_config
from omegaconf import OmegaConf

from sacflow.logging.csv_table import CsvTable
from sacflow.plotting import (
    LEARNING_CURVE_PNG,
    RETURN_CURVES,
    SUCCESS_CURVES,
    learning_curve_kwargs,
    plot_learning_curve,
)
from sacflow.report import plot_run
from sacflow.trainers.online import OnlineTrainer

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_table(path, rows):
    table = CsvTable(path)
    for row in rows:
        table.write(row)
    table.close()


def assert_png(path):
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_plot_train_and_eval(tmp_path):
    write_table(tmp_path / "train.csv", [{"step": s, "train/episode_return": s / 10, "losses/critic": 1.0} for s in range(0, 1000, 50)])
    write_table(
        tmp_path / "eval.csv",
        [{"step": s, "eval/return_det": s / 5, "eval/return_stoch": s / 6} for s in range(0, 1000, 200)],
    )
    png = plot_learning_curve(tmp_path, tmp_path / "plots" / "curve.png", title="Pendulum / sac")
    assert png == tmp_path / "plots" / "curve.png"
    assert_png(png)


def test_plot_without_eval_csv(tmp_path):
    write_table(tmp_path / "train.csv", [{"step": s, "train/episode_return": -s} for s in range(10)])
    assert_png(plot_learning_curve(tmp_path, tmp_path / "curve.png"))


def test_plot_with_missing_columns_and_empty_cells(tmp_path):
    # train.csv lacks the return column; eval.csv has only the deterministic return, partly empty.
    write_table(tmp_path / "train.csv", [{"step": 1, "losses/critic": 0.5}])
    write_table(tmp_path / "eval.csv", [{"step": 1, "eval/return_det": 3.0}, {"step": 2, "eval/other": 1.0}])
    assert_png(plot_learning_curve(tmp_path, tmp_path / "curve.png"))


def test_plot_with_no_files_at_all(tmp_path):
    (tmp_path / "eval.csv").touch()  # created but never written
    assert_png(plot_learning_curve(tmp_path, tmp_path / "curve.png"))


# ---------------------------------------------------------------- sacflow-plot
@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A real tiny from-scratch run, and the learning curve its trainer drew at the end."""
    out = tmp_path_factory.mktemp("run")
    OnlineTrainer(compose_config([*TINY, *TINY_VELOCITY["flow_t"], "eval.every=0", f"out_dir={out}"]), out).run()
    return out, (out / LEARNING_CURVE_PNG).read_bytes()


def test_sacflow_plot_redraws_the_trainers_plot(finished_run, capsys):
    out, drawn_by_trainer = finished_run
    (out / LEARNING_CURVE_PNG).unlink()  # as for a run still going: no plot yet
    assert plot_run.main([str(out)]) == 0
    assert (out / LEARNING_CURVE_PNG).read_bytes() == drawn_by_trainer  # same title, curves and labels
    assert capsys.readouterr().out.strip() == f"sacflow-plot: {out / LEARNING_CURVE_PNG}"
    assert plot_run.main([str(out), "--out", str(out / "elsewhere" / "curve.png")]) == 0
    assert_png(out / "elsewhere" / "curve.png")


@pytest.mark.parametrize("case", ["missing", "no config", "no csv"])
def test_sacflow_plot_refuses_a_directory_without_a_run(case, tmp_path, capsys):
    run_dir = tmp_path / "run"
    if case != "missing":
        run_dir.mkdir()
    if case == "no csv":  # a run just started: its config is written, no row yet
        (run_dir / "config_resolved.yaml").write_text(yaml.safe_dump({"trainer": "online", "run_name": "x/y"}))
    assert plot_run.main([str(run_dir)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    reason = {"missing": "no such directory", "no config": "no config_resolved.yaml",
              "no csv": "no eval.csv or train.csv yet"}[case]
    assert line.startswith(f"sacflow-plot: {run_dir}: {reason}")
    assert not list(tmp_path.rglob("*.png"))


@pytest.mark.parametrize(("overrides", "curves", "xlabel"), [
    ([], RETURN_CURVES, None),
    (["experiment=ppo/mujoco"], RETURN_CURVES, None),
    (["experiment=o2o/lift/qc_fql"], SUCCESS_CURVES, "offline updates, then environment steps"),
    (["experiment=reinflow/lift"], SUCCESS_CURVES, "pretraining updates, then environment steps"),
])
def test_each_regime_plots_its_own_curves(overrides, curves, xlabel):
    kwargs = learning_curve_kwargs(OmegaConf.to_container(compose_config(overrides), resolve=True))
    assert kwargs["curves"] == curves and kwargs.get("xlabel") == xlabel
