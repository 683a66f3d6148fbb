"""A damaged latest.pt: the run resumes from the checkpoint before it, says so in one line, and ends
exactly as an uninterrupted run."""

import shutil

import pytest
from conftest import TINY, TINY_VELOCITY, compose_config
from resume_check import assert_same_run

from sacflow.trainers.online import OnlineTrainer
from sacflow.utils.checkpoint import (
    commit,
    discard_pending,
    latest_path,
    load,
    load_newest_intact,
    pending_path,
    save_checkpoint,
    stage,
)
from sacflow.utils.checkpoint_error import CheckpointError

RUN = [*TINY, *TINY_VELOCITY["flow_t"], "eval.every=0", "checkpoint_every=50"]


def train(out, total):
    OnlineTrainer(compose_config([*RUN, f"total_steps={total}", f"out_dir={out}"]), out).run()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted 200-step run."""
    out = tmp_path_factory.mktemp("reference")
    train(out, 200)
    return out


def truncate_to_half(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def truncate_to_nothing(path):
    path.write_bytes(b"")


def flip_a_byte_in_the_middle(path):  # same size: only the checksum can tell
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def cut_the_last_byte(path):
    path.write_bytes(path.read_bytes()[:-1])


@pytest.mark.parametrize("damage", [truncate_to_half, truncate_to_nothing, flip_a_byte_in_the_middle, cut_the_last_byte])
def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one(damage, reference, tmp_path, capsys):
    out = tmp_path / "run"
    train(out, 200)  # checkpoints every 50 steps: latest.pt = step 200, previous.pt = step 150
    assert (load(latest_path(out))["step"], load(out / "checkpoints" / "previous.pt")["step"]) == (200, 150)
    damage(latest_path(out))
    capsys.readouterr()
    train(out, 200)  # resumes from 150 with one warning, then runs to 200 again
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("sacflow: warning:")]
    assert len(warnings) == 1 and warnings[0].startswith(f"sacflow: warning: {latest_path(out)} ")
    assert warnings[0].endswith("resuming from previous.pt")
    assert_same_run(reference, out, ["train", "update"], unique_steps=["train", "update"])  # no gap, no duplicate


def test_no_intact_checkpoint_is_one_line(tmp_path):
    save_checkpoint({"step": 1}, tmp_path)
    save_checkpoint({"step": 2}, tmp_path)
    for name in ("latest.pt", "previous.pt"):
        truncate_to_half(tmp_path / "checkpoints" / name)
    with pytest.raises(CheckpointError) as err:
        load_newest_intact(tmp_path)
    assert "no intact checkpoint (latest.pt is damaged" in str(err.value) and "\n" not in str(err.value)


def test_every_crash_point_of_a_save_leaves_an_intact_checkpoint(tmp_path):
    """Killed after staging, or between the renames: the newest intact checkpoint is loaded."""
    save_checkpoint({"step": 1}, tmp_path)
    stage({"step": 2}, tmp_path)  # crash before commit: latest.pt is still step 1
    assert load_newest_intact(tmp_path) == {"step": 1}
    discard_pending(tmp_path)
    assert not pending_path(tmp_path).exists()
    stage({"step": 2}, tmp_path)
    folder = tmp_path / "checkpoints"
    shutil.move(folder / "latest.pt", folder / "previous.pt")  # crash between the two renames
    assert load_newest_intact(tmp_path) == {"step": 1}
    shutil.move(folder / "pending.pt", folder / "latest.pt")  # crash before the checksums were updated
    assert load_newest_intact(tmp_path) == {"step": 2}
    stage({"step": 3}, tmp_path)
    commit(tmp_path)
    assert load_newest_intact(tmp_path) == {"step": 3} and load(folder / "previous.pt") == {"step": 2}
    assert sorted(p.name for p in folder.iterdir()) == ["checksums.json", "latest.pt", "previous.pt"]


def test_a_run_without_checkpoints_starts_fresh(tmp_path):
    assert load_newest_intact(tmp_path) is None
