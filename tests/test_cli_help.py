"""``launch.py --help`` is our short guide (cfg/hydra/help/sacflow.yaml), not Hydra's generic dump."""

import re
import subprocess
import sys

from conftest import ROOT


def test_help_is_short_and_names_what_users_need(subprocess_env):
    result = subprocess.run([sys.executable, "launch.py", "--help"], cwd=ROOT, env=subprocess_env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    text = result.stdout
    assert len(text.splitlines()) < 60, text
    for group in ("env", "method", "agent", "velocity", "critic"):
        assert re.search(rf"^\s+{group}\s+\w", text, re.MULTILINE), f"config group {group} not listed"
    for needed in ("experiment=quickstart", "experiment=paper/", "experiment=o2o/", "--cfg job --resolve",
                   "${run_name}", " -m ", "hydra/launcher=slurm", "sacflow-train", "docs/"):
        assert needed in text, needed
    assert "bench/" not in text  # internal presets stay out of the user's guide
