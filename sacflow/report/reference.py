"""Published numbers to read our runs against, shipped as ``reference_scores.csv``.

One row per (task, method): ``value`` on the scale of our metric (success rates as fractions),
its 95% CI (``ci_low``, ``ci_high``) or its standard deviation (``std``) where the source gives
one, the step it was measured at, and the source it was taken from.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd


def load_references() -> pd.DataFrame:
    with resources.files(__package__).joinpath("reference_scores.csv").open() as f:
        return pd.read_csv(f)
