"""Optional extras: a run that needs one that is not installed stops at once with the pip line to run.

Checked with ``importlib.util.find_spec`` (nothing is imported), right after composition and before
torch, the environments or the launcher are loaded, instead of a ``ModuleNotFoundError``
traceback half a minute into the run.
"""

from __future__ import annotations

import importlib.util
import re
import shutil

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
    """Before Hydra builds a submitit launcher: its extra, and for SLURM an ``sbatch`` to submit with."""
    for arg in argv:
        match = LAUNCHER.match(arg)
        if not match:
            continue
        require("slurm", arg)
        if match.group(1) in ("slurm", "submitit_slurm") and shutil.which("sbatch") is None:
            raise MissingExtra(f"{arg}: no sbatch on this machine's PATH; submit from a SLURM login node, "
                               "or run the sweep here with hydra/launcher=local")
