"""The one error type every dataset loader and validator raises.

A bad dataset file should stop a run with a single line that says which file and what is
wrong with it, not with a traceback from deep inside numpy or h5py.
"""

from __future__ import annotations

import os


class DatasetError(ValueError):
    """``"<path>: <problem>"``: a dataset file is missing, unreadable or inconsistent."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path, self.problem = str(path), problem
        super().__init__(f"{self.path}: {problem}")
