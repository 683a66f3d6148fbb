"""Optional extras: a run that needs one that is not installed stops at once with the pip line to run.

Checked with ``importlib.util.find_spec`` (nothing is imported), right after composition and before
torch, the environments or the launcher are loaded, instead of a ``ModuleNotFoundError``
traceback half a minute into the run.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess

# extra (pyproject.toml [project.optional-dependencies]) -> modules it provides
EXTRAS = {
    "wandb": ("wandb",),
    "ogbench": ("ogbench", "dm_control"),
    "robomimic": ("robosuite", "h5py"),
    "slurm": ("submitit", "hydra_plugins.hydra_submitit_launcher"),
}
SUITE_EXTRA = {"ogbench": "ogbench", "robomimic": "robomimic"}
LAUNCHER = re.compile(r"^hydra/launcher=(\S+)$")


class MissingExtra(RuntimeError):
    """One line: what needs the extra and the command that installs it."""


class LauncherError(RuntimeError):
    """One line: why the chosen launcher cannot submit from this machine."""


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a dotted name whose parent package is missing
        return False


def require(extra: str, needed_by: str) -> None:
    missing = [m for m in EXTRAS[extra] if not _installed(m)]
    if missing:
        raise MissingExtra(f"{needed_by} needs the '{extra}' extra ({', '.join(missing)} not installed): "
                           f"pip install -e '.[{extra}]'")


def check_run_extras(cfg) -> None:
    """The extras the composed config needs: its logger's and its environment suite's."""
    if cfg.logger.wandb.mode != "disabled":
        require("wandb", f"logger.wandb.mode={cfg.logger.wandb.mode}")
    suite = cfg.env.get("suite")
    if suite in SUITE_EXTRA:
        require(SUITE_EXTRA[suite], f"env={cfg.env.name} ({suite})")


def check_launcher(argv: list[str]) -> None:
    """Before Hydra builds a submitit launcher: its extra, and for SLURM an ``sbatch`` and a controller that answers."""
    for arg in argv:
        match = LAUNCHER.match(arg)
        if not match:
            continue
        require("slurm", arg)
        if match.group(1) in ("slurm", "submitit_slurm"):
            if shutil.which("sbatch") is None:
                raise LauncherError(f"{arg}: no sbatch on this machine's PATH; submit from a SLURM login node, "
                                   "or run the sweep here with hydra/launcher=local")
            _check_controller(arg)


def _check_controller(arg: str) -> None:
    """``scontrol ping`` asks slurmctld itself: a login node whose controller is down refuses now, not at submission."""
    if shutil.which("scontrol") is None:
        return  # sbatch without scontrol: nothing to ask, submission will tell
    try:
        result = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=30, check=False)
        answer = " ".join((result.stdout + result.stderr).split())
    except subprocess.TimeoutExpired:
        result, answer = None, "no answer within 30 s"
    if result is None or result.returncode != 0 or " is UP" not in answer:
        raise LauncherError(f"{arg}: the SLURM controller does not answer (scontrol ping: {answer}); "
                           "check SLURM_CONF and the cluster, or run the sweep here with hydra/launcher=local")
