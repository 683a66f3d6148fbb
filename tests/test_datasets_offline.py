"""OfflineDataset: every bad input is one DatasetError line naming the source."""

import numpy as np
import pytest
import torch

from sacflow.datasets.errors import DatasetError
from sacflow.datasets.offline import ACTION_CLIP, OfflineDataset


def arrays(n=8, obs=3, act=2):
    rng = np.random.default_rng(0)
    terminals = np.zeros(n, dtype=bool)
    terminals[-1] = True
    return {
        "observations": rng.normal(size=(n, obs)).astype(np.float32),
        "next_observations": rng.normal(size=(n, obs)).astype(np.float32),
        "actions": np.linspace(-1, 1, n * act).reshape(n, act),
        "rewards": rng.normal(size=n),
        "masks": np.ones(n),
        "terminals": terminals,
    }


def test_valid_data_is_stored_as_float32_and_clipped(capsys):
    ds = OfflineDataset(arrays(), source="mem.npz").validate(obs_dim=3, act_dim=2)
    assert len(ds) == 8 and ds.num_episodes == 1 and ds.obs_dim == 3 and ds.act_dim == 2
    assert all(v.dtype == np.float32 for v in ds.data.values())
    assert ds["actions"].max() == 1.0
    ds.clip_actions()  # linspace(-1, 1, 16): the two end points lie outside +-(1 - 1e-5)
    assert capsys.readouterr().err.splitlines() == [
        f"sacflow: note: mem.npz: 2 of 16 action entries (12.50%) lie outside +-{ACTION_CLIP} and were clipped to it"]
    ds.clip_actions()  # nothing left to clip: nothing said
    assert capsys.readouterr().err == ""
    assert ds["actions"].max() == np.float32(ACTION_CLIP) and ds["actions"].min() == -np.float32(ACTION_CLIP)
    tensors = ds.to_torch("cpu")
    assert tensors["actions"].dtype == torch.float32 and ds.to_torch("cpu") is tensors  # cached


@pytest.mark.parametrize("mutate, message", [
    (lambda a: a.pop("masks"), "missing key(s) masks"),
    (lambda a: a.__setitem__("observations", a["observations"][:, :, None]), "observations must be 2-D"),
    (lambda a: a.__setitem__("rewards", a["rewards"][:-1]), "arrays differ in length"),
    (lambda a: a.__setitem__("next_observations", a["next_observations"][:, :2]), "next_observations dim 2"),
    (lambda a: a["observations"].__setitem__((5, 1), np.nan), "observations has 1 NaN/inf value(s), first at row 5"),
    (lambda a: a["rewards"].__setitem__(2, np.inf), "rewards has 1 NaN/inf"),
    (lambda a: a.__setitem__("masks", np.full(8, 0.5)), "masks must hold only 0/1"),
    (lambda a: a.__setitem__("actions", np.zeros((8, 2), dtype=np.int64)), "actions has dtype int64"),
])
def test_bad_arrays_name_the_file_and_the_problem(mutate, message):
    data = arrays()
    mutate(data)
    with pytest.raises(DatasetError) as err:
        OfflineDataset(data, source="/data/x.npz")
    text = str(err.value)
    assert text.startswith("/data/x.npz: ") and message in text and "\n" not in text
    assert isinstance(err.value, ValueError)


def test_dims_must_match_the_environment():
    ds = OfflineDataset(arrays(), source="d.hdf5")
    with pytest.raises(DatasetError, match="d.hdf5: observation dim 3 does not match the environment's 19"):
        ds.validate(obs_dim=19)
    with pytest.raises(DatasetError, match="d.hdf5: action dim 2 does not match the environment's 7"):
        ds.validate(obs_dim=3, act_dim=7)
