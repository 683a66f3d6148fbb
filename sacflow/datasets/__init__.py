"""Offline datasets for the offline-to-online suites (OGBench cube, Robomimic low-dim).

Modules:
    errors          DatasetError, the one-line "<path>: <problem>" error
    offline         OfflineDataset: flat transition arrays, validation, action clipping
    chunking        sample_chunks / random_chunk_starts: the official h-step chunk sampler
    ogbench_data    load OGBench npz files (singletask reward/mask relabelling by ogbench)
    robomimic_data  load robomimic-layout HDF5 files (low-dim obs, reward - 1)
    generate        ``python -m sacflow.datasets.generate {ogbench,robomimic} ...``
    ogbench_play, robomimic_demos, scripted   the generators behind that command

Names are imported lazily so that ``python -m sacflow.datasets.generate`` can pin the BLAS
thread count before numpy loads, and so that the optional simulators (ogbench, robosuite,
h5py) are only imported by the loaders that need them.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "DatasetError": "errors",
    "OfflineDataset": "offline",
    "ACTION_CLIP": "offline",
    "sample_chunks": "chunking",
    "random_chunk_starts": "chunking",
    "load_ogbench_dataset": "ogbench_data",
    "load_robomimic_dataset": "robomimic_data",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
