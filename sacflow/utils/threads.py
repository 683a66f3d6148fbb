"""How many CPU threads torch may use, applied before any training work (config key ``threads``).

Torch's default is one intra-op thread per core. On a machine that other work shares, those
threads spin against the other processes: the quickstart measured ~0.6 CPU-s per update with the
default against 0.03-0.04 with one thread (issue 17). So ``auto`` means: what the job was given
(``OMP_NUM_THREADS`` as the SLURM launcher sets it from ``SLURM_CPUS_PER_TASK``, else
``SLURM_CPUS_PER_TASK``), and 1 outside a scheduler. The value also goes to ``OMP_NUM_THREADS`` and
``MKL_NUM_THREADS`` so evaluation worker processes inherit it.
"""

from __future__ import annotations

import os

import torch

from sacflow.config_checks import ConfigError


def thread_count(value) -> int:
    """``threads`` (a positive integer or ``auto``) as a number of threads."""
    if value == "auto":
        for var in ("OMP_NUM_THREADS", "SLURM_CPUS_PER_TASK"):
            given = os.environ.get(var, "")
            if given.isdigit() and int(given) > 0:
                return int(given)
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError("threads", "must be a positive integer or auto", value)
    return value


def apply_threads(value) -> int:
    count = thread_count(value)
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(count)
    torch.set_num_threads(count)
    return count
