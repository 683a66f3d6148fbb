"""OGBench: a tiny generated play dataset round-trips through our loader and ogbench's own."""

import json
import zipfile

import numpy as np
import pytest

pytest.importorskip("ogbench")

from sacflow.datasets import generate, ogbench_play
from sacflow.datasets.errors import DatasetError
from sacflow.datasets.ogbench_data import dataset_paths, dataset_stem, load_ogbench_dataset
from sacflow.envs.ogbench import make_ogbench_env, singletask_env_id

# sacflow.envs.ogbench silences these at import, but pytest restores the filters after collection.
pytestmark = [pytest.mark.filterwarnings("ignore:.*precision lowered:UserWarning"),
              pytest.mark.filterwarnings("ignore:.*DISPLAY environment variable")]

NAME = "cube-double-play-singletask-task2-v0"
LENGTH = 30  # steps per episode (official 1001) -> 29 transitions after loading


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("ogbench")
    argv = ["ogbench", "--env", "cube-double", "--episodes", "2", "--out", str(out), "--seed", "3",
            "--episode-length", str(LENGTH), "--shard-size", "1", "--keep-shards"]
    assert generate.main(argv) == 0
    return out


@pytest.fixture(scope="module")
def env():
    """One single-task env shared by the loader tests (building one takes about a second)."""
    return make_ogbench_env(NAME)


def test_generated_files_have_the_official_layout(data_dir):
    with np.load(data_dir / "cube-double-play-v0.npz") as f:
        assert set(f.files) == {"observations", "actions", "terminals", "qpos", "qvel"}
        assert f["observations"].shape == (2 * LENGTH, 37) and f["observations"].dtype == np.float32
        assert f["actions"].shape == (2 * LENGTH, 5) and np.abs(f["actions"]).max() <= 1.0
        assert f["terminals"].dtype == bool and np.flatnonzero(f["terminals"]).tolist() == [LENGTH - 1, 2 * LENGTH - 1]
    with np.load(data_dir / "cube-double-play-v0-val.npz") as f:  # max(1, 2 // 10) val episodes
        assert f["observations"].shape == (LENGTH, 37)
    meta = json.loads((data_dir / "cube-double-play-v0.json").read_text())
    assert meta["settings"]["seed"] == 3 and meta["steps_per_second_per_core"] > 0


def test_round_trip_matches_ogbench_make_env_and_datasets(data_dir, env):
    import ogbench

    ours = load_ogbench_dataset(NAME, dataset_dir=data_dir, env=env)
    assert ours.env.unwrapped._success_timing == "pre"
    assert len(ours.train) == 2 * (LENGTH - 1) and ours.train.num_episodes == 2 and len(ours.val) == LENGTH - 1
    _, train, _ = ogbench.make_env_and_datasets(NAME, dataset_path=str(data_dir / "cube-double-play-v0.npz"))
    for key in ("observations", "next_observations", "rewards", "masks", "terminals"):
        np.testing.assert_array_equal(ours.train[key], train[key], err_msg=key)
    np.testing.assert_array_equal(ours.train["actions"], np.clip(train["actions"], -1 + 1e-5, 1 - 1e-5))
    assert set(np.unique(ours.train["rewards"])) <= {-2.0, -1.0, 0.0}  # (#cubes at goal) - 2
    # A within-episode next observation is the following row's observation.
    np.testing.assert_array_equal(ours.train["next_observations"][:LENGTH - 2], ours.train["observations"][1:LENGTH - 1])


def test_episodes_are_seeded_independently_of_sharding(data_dir, tmp_path):
    stats = ogbench_play.run_shard("cube-double", "train", 1, 2, 3, LENGTH, str(tmp_path / "one.npz"))
    assert stats["steps"] == LENGTH
    with np.load(tmp_path / "one.npz") as alone, np.load(data_dir / "cube-double-play-v0.npz") as merged:
        np.testing.assert_array_equal(alone["observations"], merged["observations"][LENGTH:])
        np.testing.assert_array_equal(alone["actions"], merged["actions"][LENGTH:])


def test_rerun_skips_finished_work(data_dir, monkeypatch):
    def boom(*args):
        raise AssertionError("a finished shard was generated again")

    monkeypatch.setattr(ogbench_play, "run_shard", boom)
    kwargs = {"seed": 3, "episode_length": LENGTH, "shard_size": 1, "keep_shards": True, "log": lambda *_: None}
    assert ogbench_play.generate_ogbench_play("cube-double", 2, data_dir, **kwargs)["skipped"]
    # Lose the merged files: the kept shards are merged again without simulating anything.
    before = np.load(data_dir / "cube-double-play-v0.npz")["observations"]
    (data_dir / "cube-double-play-v0.json").unlink()
    (data_dir / "cube-double-play-v0.npz").unlink()
    assert not ogbench_play.generate_ogbench_play("cube-double", 2, data_dir, **kwargs)["skipped"]
    np.testing.assert_array_equal(np.load(data_dir / "cube-double-play-v0.npz")["observations"], before)
    with pytest.raises(FileExistsError, match="different settings"):
        ogbench_play.generate_ogbench_play("cube-double", 2, data_dir, **{**kwargs, "seed": 4})


def test_missing_file_says_where_it_looked_and_how_to_get_it(tmp_path):
    with pytest.raises(DatasetError) as err:
        load_ogbench_dataset(NAME, dataset_dir=tmp_path)
    text = str(err.value)
    assert text.startswith(str(tmp_path / "cube-double-play-v0.npz") + ": ") and "\n" not in text
    assert f"looked in {tmp_path}" in text and "python -m sacflow.datasets.generate ogbench --env cube-double" in text
    assert "rail.eecs.berkeley.edu" in text


def write_variant(data_dir, tmp_path, change):
    """A copy of the generated pair whose train file is altered by ``change(dict) -> dict``."""
    with np.load(data_dir / "cube-double-play-v0.npz") as f:
        arrays = change({k: f[k].copy() for k in f.files})
    np.savez(tmp_path / "cube-double-play-v0.npz", **arrays)
    (tmp_path / "cube-double-play-v0-val.npz").write_bytes((data_dir / "cube-double-play-v0-val.npz").read_bytes())
    return tmp_path / "cube-double-play-v0.npz"


def drop(key):
    return lambda a: {k: v for k, v in a.items() if k != key}


def with_nan(a):
    a["observations"][7, 3] = np.nan
    return a


@pytest.mark.parametrize("change, message", [
    (drop("qpos"), "missing key(s) qpos"),
    (drop("actions"), "missing key(s) actions"),
    (lambda a: {**a, "observations": a["observations"][:, :30]}, "observations has shape (60, 30), expected (60, 37)"),
    (lambda a: {**a, "actions": a["actions"][:, :4]}, "actions has shape (60, 4), expected (60, 5)"),
    (lambda a: {**a, "qpos": a["qpos"][:-1]}, "qpos has shape (59, 28)"),
    (lambda a: {**a, "terminals": np.zeros_like(a["terminals"])}, "terminals[-1] must be True"),
    (with_nan, "observations has 1 NaN/inf value(s)"),
])
def test_bad_files_are_rejected_with_the_file_named(data_dir, env, tmp_path, change, message):
    path = write_variant(data_dir, tmp_path, change)
    with pytest.raises(DatasetError) as err:
        load_ogbench_dataset(NAME, dataset_dir=tmp_path, env=env)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value) and "\n" not in str(err.value)


def test_truncated_file_is_rejected(data_dir, tmp_path):
    path = write_variant(data_dir, tmp_path, lambda a: a)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DatasetError, match=f"^{path}: not a readable npz file"):
        load_ogbench_dataset(NAME, dataset_path=path)
    assert not zipfile.is_zipfile(path)


def test_names_and_env_factory():
    assert dataset_stem(NAME) == "cube-double-play-v0"
    assert singletask_env_id(NAME) == singletask_env_id("cube-double-singletask-task2-v0") == "cube-double-singletask-task2-v0"
    _, val = dataset_paths(NAME, dataset_path="/d/cube-double-play-v0.npz")
    assert str(val) == "/d/cube-double-play-v0-val.npz"
    env = make_ogbench_env(NAME, success_timing="post", max_episode_steps=3)
    assert env.unwrapped._success_timing == "post" and env.unwrapped._reward_task_id == 2
    obs, info = env.reset(seed=0)
    assert obs.shape == (37,) and info["success"] is False
    for _ in range(3):
        obs, reward, terminated, truncated, info = env.step(np.zeros(5))
    assert reward == -2.0 and not terminated and truncated and info["success"] is False
    with pytest.raises(ValueError, match="success_timing"):
        make_ogbench_env(NAME, success_timing="later")
    with pytest.raises(ValueError, match="not an OGBench single-task"):
        singletask_env_id("cube-double-play-v0")


def test_download_of_a_missing_file_fails_with_one_line_when_the_server_is_unreachable(tmp_path):
    """This machine cannot reach the OGBench server: the error names the file, says why, how to get it."""
    from sacflow.datasets.ogbench_data import _server_unreachable

    if _server_unreachable() is None:
        pytest.skip("the OGBench server is reachable from here: a download would start")
    with pytest.raises(DatasetError, match=r"OGBench dataset not found .*\(downloading failed: .* unreachable"):
        load_ogbench_dataset(NAME, dataset_dir=tmp_path, download=True)
