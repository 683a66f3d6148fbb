"""Record what produced a run: software versions, git commit, command line, config."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

_PACKAGES = ("torch", "numpy", "gymnasium", "mujoco", "hydra-core", "omegaconf")


def write_run_info(out_dir: str | os.PathLike, cfg_dict: Mapping[str, Any], resumed_from: int | None = None) -> None:
    """Write ``run_info.json`` and ``config_resolved.yaml`` into ``out_dir``.

    ``resumed_from``: the checkpoint's step, or None for a fresh start. A resumed run keeps the
    original record and appends its own under ``"resumes"``; a fresh start replaces the file (a run
    killed before its first checkpoint starts again from step 0, its rows dropped).
    ``config_resolved.yaml`` always holds the config of the latest launch.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    record = {"start": "fresh" if resumed_from is None else "resume", "from_step": resumed_from or 0, **_collect()}

    info_path = out_dir / "run_info.json"
    if resumed_from is not None and info_path.exists():
        info = json.loads(info_path.read_text())
        info.setdefault("resumes", []).append(record)
    else:
        info = record
    _write_text_atomic(info_path, json.dumps(info, indent=2) + "\n")
    _write_text_atomic(out_dir / "config_resolved.yaml", yaml.safe_dump(dict(cfg_dict), sort_keys=False))


def _collect() -> dict[str, Any]:
    return {
        "start_time_utc": datetime.now(timezone.utc).isoformat(),
        "argv": list(sys.argv),
        "python": sys.version,
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "torch_threads": _torch_threads(),  # what ``threads`` resolved to (sacflow/utils/threads.py)
        "packages": {name: _version(name) for name in _PACKAGES},
        "git": _git_state(Path(__file__).resolve().parent),
    }


def _torch_threads() -> int | None:
    torch = sys.modules.get("torch")  # imported by every trainer; not imported here for it
    return torch.get_num_threads() if torch else None


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git_state(directory: Path) -> dict[str, Any] | None:
    """Commit and dirtiness of the checkout containing ``directory``; None if there is none."""

    def git(*args: str) -> str | None:
        try:
            result = subprocess.run(
                ["git", *args], cwd=directory, capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired):  # git missing or hanging
            return None
        return result.stdout.strip() if result.returncode == 0 else None

    if git("rev-parse", "--is-inside-work-tree") != "true":
        return None
    status = git("status", "--porcelain")
    return {
        "commit": git("rev-parse", "HEAD"),  # None in a repository without commits
        # Untracked (but not ignored) files count: they can change what runs.
        "dirty": None if status is None else status != "",
    }


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
