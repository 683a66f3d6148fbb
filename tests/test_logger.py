import csv
import os
import subprocess
import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from sacflow.logging.logger import Logger

REPO_ROOT = Path(__file__).resolve().parents[1]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def tb_scalars(tb_dir, tag):
    events = EventAccumulator(str(tb_dir))
    events.Reload()
    return [(event.step, event.value) for event in events.Scalars(tag)]


def tb_purge_steps(tb_dir):
    """Steps at which a writer told TensorBoard to hide older events (SessionLog.START)."""
    return [
        event.step
        for path in sorted(Path(tb_dir).glob("events.out.tfevents.*"))
        for event in EventFileLoader(str(path)).Load()
        if event.HasField("session_log") and event.session_log.status == event.session_log.START
    ]


def log_steps(logger, steps, offset=0.0):
    for step in steps:
        logger.log("train", {"train/episode_return": step + offset, "time/sps": 100}, step)
        if step % 2 == 0:
            logger.log("eval", {"eval/return_det": step * 10 + offset}, step)


def test_writes_csv_per_table_and_tensorboard_events(tmp_path):
    logger = Logger(tmp_path, {"seed": 0}, use_tensorboard=True, wandb=None)
    log_steps(logger, [1, 2, 3, 4])
    logger.close()

    train = read_csv(tmp_path / "train.csv")
    assert [row["step"] for row in train] == ["1", "2", "3", "4"]
    assert train[0] == {"step": "1", "train/episode_return": "1.0", "time/sps": "100"}
    assert [row["eval/return_det"] for row in read_csv(tmp_path / "eval.csv")] == ["20.0", "40.0"]
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    assert tb_scalars(tmp_path / "tb", "eval/return_det") == [(2, 20.0), (4, 40.0)]
    assert logger.wandb_run_id is None


def test_resume_truncates_csv_and_purges_tensorboard(tmp_path):
    logger = Logger(tmp_path, {}, use_tensorboard=True, wandb=None)
    log_steps(logger, [1, 2, 3, 4, 5, 6])
    logger.close()

    # Crash after step 6, last checkpoint at step 4: steps 5 and 6 are logged again.
    logger = Logger(tmp_path, {}, use_tensorboard=True, wandb=None, resume_step=4)
    log_steps(logger, [5, 6], offset=0.5)
    logger.close()

    train = read_csv(tmp_path / "train.csv")
    assert [(row["step"], row["train/episode_return"]) for row in train] == [
        ("1", "1.0"), ("2", "2.0"), ("3", "3.0"), ("4", "4.0"), ("5", "5.5"), ("6", "6.5"),
    ]
    assert [row["step"] for row in read_csv(tmp_path / "eval.csv")] == ["2", "4", "6"]
    # Same rule as the CSV: keep events up to the checkpoint step, hide later ones.
    assert tb_purge_steps(tmp_path / "tb") == [5]
    assert tb_scalars(tmp_path / "tb", "train/episode_return") == [
        (1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0), (5, 5.5), (6, 6.5),
    ]


def test_wandb_offline_writes_local_run_without_account(tmp_path, monkeypatch):
    for var in ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "wandb_home"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    out_dir = tmp_path / "run"
    settings = {"mode": "offline", "project": "sacflow-test", "entity": None, "group": "g", "name": "n"}

    logger = Logger(out_dir, {"seed": 1}, use_tensorboard=False, wandb=settings)
    run_id = logger.wandb_run_id
    assert run_id
    log_steps(logger, [1, 2, 3])
    logger.close()

    run_dirs = list((out_dir / "wandb").glob(f"offline-run-*-{run_id}"))
    assert len(run_dirs) == 1
    assert (run_dirs[0] / f"run-{run_id}.wandb").stat().st_size > 0

    # A resumed run reuses the checkpointed id.
    logger = Logger(out_dir, {"seed": 1}, use_tensorboard=False, wandb=settings, resume_step=2, wandb_run_id=run_id)
    assert logger.wandb_run_id == run_id
    logger.close()


def test_disabled_backends_import_nothing_heavy(tmp_path):
    # A fresh interpreter, since other tests in this process import wandb/tensorboard.
    code = (
        "import sys\n"
        "from sacflow.logging.logger import Logger\n"
        f"logger = Logger({str(tmp_path)!r}, {{}}, use_tensorboard=False, wandb={{'mode': 'disabled'}})\n"
        "logger.log('train', {'train/episode_return': 1.0}, 1)\n"
        "logger.close()\n"
        "heavy = [m for m in ('wandb', 'tensorboard', 'torch') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "train.csv").exists()
