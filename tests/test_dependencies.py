"""Every extra installs into one environment without breaking another's pins (CI installs them all)."""

import subprocess
import sys
from importlib import metadata

import tomllib
from conftest import ROOT
from packaging.requirements import Requirement

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_the_environment_with_every_extra_has_no_broken_requirement():
    result = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_installed_versions_satisfy_the_base_pins():
    """numpy above all: installing the robomimic extra later must not move it (a running job broke once)."""
    for line in PROJECT["dependencies"]:
        requirement = Requirement(line)
        if requirement.name in ("numpy", "pandas", "mujoco", "gymnasium", "hydra-core", "omegaconf"):
            assert requirement.specifier.contains(metadata.version(requirement.name), prereleases=True), line


def test_all_is_every_user_extra():
    extras = PROJECT["optional-dependencies"]
    (everything,) = extras["all"]
    named = set(Requirement(everything).extras)
    assert named == set(extras) - {"all", "test", "dev"}
