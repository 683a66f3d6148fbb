"""Robomimic: scripted demos round-trip through the HDF5 loader; bad files are named; the env works."""

import json

import numpy as np
import pytest

pytest.importorskip("robosuite")
h5py = pytest.importorskip("h5py")

from sacflow.datasets import generate
from sacflow.datasets.errors import DatasetError
from sacflow.datasets.robomimic_data import load_robomimic_dataset, read_env_args
from sacflow.envs.robomimic import OBS_KEYS, make_robomimic_env, robosuite_name

pytestmark = pytest.mark.filterwarnings("ignore:.*DISPLAY environment variable")


@pytest.fixture(scope="module")
def lift_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("robomimic") / "lift.hdf5"
    assert generate.main(["robomimic", "--task", "lift", "--episodes", "2", "--out", str(path), "--seed", "0"]) == 0
    return path


def test_generated_file_has_the_robomimic_layout(lift_file):
    with h5py.File(lift_file, "r") as f:
        demos = sorted(f["data"].keys())
        assert demos == ["demo_0", "demo_1"]
        total = 0
        for name in demos:
            demo = f["data"][name]
            n = int(demo.attrs["num_samples"])
            total += n
            assert demo["actions"].shape == (n, 7) and np.abs(demo["actions"][()]).max() <= 1.0
            assert {k: demo["obs"][k].shape[1] for k in OBS_KEYS} == {
                "robot0_eef_pos": 3, "robot0_eef_quat": 4, "robot0_gripper_qpos": 2, "object": 10}
            assert set(demo["next_obs"].keys()) == set(OBS_KEYS)
            # the demo ends at its first success: reward 1 and done only on the last step
            assert demo["rewards"][()].tolist() == [0.0] * (n - 1) + [1.0]
            assert demo["dones"][()].tolist() == [0] * (n - 1) + [1]
            np.testing.assert_array_equal(demo["obs"]["robot0_eef_pos"][1:], demo["next_obs"]["robot0_eef_pos"][:-1])
        assert int(f["data"].attrs["total"]) == total
    env_args = read_env_args(lift_file)
    assert env_args["env_name"] == "Lift" and env_args["type"] == 1
    assert env_args["env_kwargs"]["robots"] == "Panda" and not env_args["env_kwargs"]["reward_shaping"]


def test_loader_concatenates_keys_and_shifts_rewards(lift_file):
    ds = load_robomimic_dataset(lift_file, obs_dim=19)
    with h5py.File(lift_file, "r") as f:
        demo = f["data/demo_0"]
        n0 = len(demo["actions"])
        first = np.concatenate([demo["obs"][k][0] for k in OBS_KEYS]).astype(np.float32)
    np.testing.assert_array_equal(ds["observations"][0], first)
    assert ds.num_episodes == 2 and ds["terminals"][n0 - 1] == 1 and ds["terminals"][-1] == 1
    assert set(np.unique(ds["rewards"])) == {-1.0, 0.0}  # r - 1
    np.testing.assert_array_equal(ds["masks"], 1.0 - ds["terminals"])
    assert np.abs(ds["actions"]).max() <= 1 - 1e-5


def copy_with(src, dst, edit):
    dst.write_bytes(src.read_bytes())
    with h5py.File(dst, "r+") as f:
        edit(f)
    return dst


def replace(name, fn):
    def edit(f):
        value = fn(f[name][()])
        del f[name]
        f[name] = value
    return edit


@pytest.mark.parametrize("edit, message", [
    (lambda f: f.__delitem__("data/demo_1/obs/object"), "missing dataset /data/demo_1/obs/object"),
    (lambda f: f.__delitem__("data/demo_0/dones"), "missing dataset /data/demo_0/dones"),
    (lambda f: f.__delitem__("data"), "missing group 'data'"),
    (replace("data/demo_0/actions", lambda a: a[:, :6]), "/data/demo_0/actions has dim 6, expected 7"),
    (replace("data/demo_1/obs/object", lambda a: a[:, :8]), "/data/demo_1/obs/object has dim 8, expected 10"),
    (replace("data/demo_0/rewards", lambda a: a[:-1]), "/data/demo_0/rewards has"),
    (replace("data/demo_0/obs/robot0_eef_pos", lambda a: np.where(np.arange(len(a))[:, None] == 3, np.nan, a)),
     "observations has 3 NaN/inf value(s), first at row 3"),
    (lambda f: f["data"].attrs.__setitem__("total", 5), "attr data.total=5"),
])
def test_bad_files_are_rejected_with_the_file_named(lift_file, tmp_path, edit, message):
    path = copy_with(lift_file, tmp_path / "bad.hdf5", edit)
    with pytest.raises(DatasetError) as err:
        load_robomimic_dataset(path, obs_dim=19)
    text = str(err.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text


def test_truncated_and_missing_files(lift_file, tmp_path):
    path = tmp_path / "cut.hdf5"
    data = lift_file.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(DatasetError, match=rf"^{path}: .*(truncated or corrupt)"):
        load_robomimic_dataset(path)
    with pytest.raises(DatasetError, match=rf"^{tmp_path / 'none.hdf5'}: robomimic dataset not found; generate"):
        load_robomimic_dataset(tmp_path / "none.hdf5")
    bad_json = copy_with(lift_file, tmp_path / "json.hdf5", lambda f: f["data"].attrs.__setitem__("env_args", "{"))
    with pytest.raises(DatasetError, match="data.env_args is not valid JSON"):
        read_env_args(bad_json)


def test_env_resets_steps_and_reports_success():
    env = make_robomimic_env("lift", horizon=4)
    assert env.observation_space.shape == (19,) and env.action_space.shape == (7,)
    obs, info = env.reset(seed=1)
    again, _ = env.reset(seed=1)
    np.testing.assert_array_equal(obs, again)  # seeded resets reproduce the scene
    assert obs.dtype == np.float32 and info == {"success": False}
    for t in range(4):
        obs, reward, terminated, truncated, info = env.step(np.zeros(7))
        assert reward == -1.0 and not terminated and info["success"] is False
        assert truncated == (t == 3)  # time limit only
    assert env.get_state().ndim == 1 and json.dumps(env.env_kwargs)
    assert [robosuite_name(t) for t in ("lift", "can-mh-low_dim", "square")] == ["Lift", "PickPlaceCan",
                                                                                 "NutAssemblySquare"]
    assert make_robomimic_env.__defaults__ == (None,) and env.horizon == 4
    with pytest.raises(ValueError, match="unknown Robomimic task"):
        robosuite_name("door")


def test_model_seed_makes_every_build_of_the_env_the_same():
    """Robosuite draws Lift's cube size when the env is built: the spec's model seed fixes that draw,
    so evaluation workers and resumed runs (other processes) see the same model."""
    from sacflow.envs.manipulation import ManipulationEnvSpec

    def cube_half_size(model_seed):
        env = ManipulationEnvSpec("robomimic", "lift", 20, model_seed=model_seed)()
        size = np.array(env.unwrapped.env.cube.size)
        env.close()
        return size

    np.testing.assert_array_equal(cube_half_size(7), cube_half_size(7))
    # Unseeded builds draw fresh sizes (the bug this guards against), so they differ from each other.
    unseeded = [cube_half_size(None) for _ in range(3)]
    assert any(not np.array_equal(unseeded[0], s) for s in unseeded[1:])
