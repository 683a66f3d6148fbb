from sacflow.logging.csv_table import CsvTable
from sacflow.plotting import plot_learning_curve

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
