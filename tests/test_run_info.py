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
    assert (info["start"], info["from_step"]) == ("fresh", 0)
    assert yaml.safe_load((tmp_path / "config_resolved.yaml").read_text()) == CFG


def test_resume_appends_instead_of_overwriting(tmp_path):
    write_run_info(tmp_path, CFG)
    original = json.loads((tmp_path / "run_info.json").read_text())
    write_run_info(tmp_path, CFG, resumed_from=100)
    write_run_info(tmp_path, CFG, resumed_from=200)
    info = json.loads((tmp_path / "run_info.json").read_text())
    assert info["start_time_utc"] == original["start_time_utc"]
    assert [(r["start"], r["from_step"]) for r in info["resumes"]] == [("resume", 100), ("resume", 200)]
    assert "resumes" not in info["resumes"][0]


def test_a_fresh_start_in_a_used_folder_replaces_the_record(tmp_path):
    """A run killed before its first checkpoint starts again from 0: it must not read as a resume."""
    write_run_info(tmp_path, CFG, resumed_from=100)
    write_run_info(tmp_path, CFG)
    info = json.loads((tmp_path / "run_info.json").read_text())
    assert (info["start"], info["from_step"]) == ("fresh", 0) and "resumes" not in info


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
