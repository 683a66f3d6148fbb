import json
import subprocess

import yaml

from sacflow.utils.run_info import _git_state, write_run_info

CFG = {"env": {"id": "Pendulum-v1"}, "seed": 0, "lr": 3e-4, "hidden": [256, 256]}


def test_writes_run_info_and_resolved_config(tmp_path):
    write_run_info(tmp_path, CFG)
    info = json.loads((tmp_path / "run_info.json").read_text())
    assert set(info) >= {"python", "platform", "hostname", "packages", "git", "argv", "start_time_utc"}
    assert set(info["packages"]) == {"torch", "numpy", "gymnasium", "mujoco", "hydra-core", "omegaconf"}
    assert "resumes" not in info
    assert yaml.safe_load((tmp_path / "config_resolved.yaml").read_text()) == CFG


def test_resume_appends_instead_of_overwriting(tmp_path):
    write_run_info(tmp_path, CFG)
    original = json.loads((tmp_path / "run_info.json").read_text())
    write_run_info(tmp_path, CFG)
    write_run_info(tmp_path, CFG)
    info = json.loads((tmp_path / "run_info.json").read_text())
    assert info["start_time_utc"] == original["start_time_utc"]
    assert len(info["resumes"]) == 2
    assert "resumes" not in info["resumes"][0]


def test_git_state(tmp_path):
    assert _git_state(tmp_path) is None  # pytest's tmp dirs are not inside a checkout

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init")
    (tmp_path / "a.py").write_text("x = 1\n")
    git("add", "a.py")
    git("commit", "-m", "init")
    state = _git_state(tmp_path)
    assert len(state["commit"]) == 40 and state["dirty"] is False
    (tmp_path / "a.py").write_text("x = 2\n")
    assert _git_state(tmp_path)["dirty"] is True
