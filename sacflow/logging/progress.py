"""Terminal progress bar over environment steps (thin wrapper around tqdm)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from tqdm import tqdm

# (metric, format): the first of these a run logs is the evaluation shown.
EVAL_SHOWN = (("eval/success", ".2f"), ("eval/return_det", ".0f"), ("eval/return_stoch", ".0f"), ("eval/return", ".0f"))
STATUS_EVERY_S = 0.5  # the status is read this often, not at every step (the vectorised trainer averages seeds)


def status_of(latest: Mapping[str, float]) -> dict[str, str]:
    """The bar's postfix: the last finished episode's return and the last evaluation."""
    shown = {}
    if "train/episode_return" in latest:
        shown["last_ep"] = f"{latest['train/episode_return']:.0f}"
    for key, fmt in EVAL_SHOWN:
        if key in latest:
            shown["eval"] = f"{latest[key]:{fmt}}@{latest.get('step/eval', 0):.0f}"
            break
    return shown


class Progress:
    """Progress bar with steps/s, an ETA and a status postfix; ``initial`` is the step a resumed run starts at.

    ``status()`` (a dict of short strings) is read at most every ``STATUS_EVERY_S``; tqdm draws it at its own pace.
    The ETA averages the rate over many updates (smoothing 0.05 instead of tqdm's 0.3): a step's
    cost jumps when updates start and at every evaluation, and the default swung by hours.
    """

    def __init__(self, total: int, initial: int = 0, disable: bool = False,
                 status: Callable[[], Mapping[str, str]] | None = None):
        # tqdm reads TQDM_DISABLE (and other TQDM_* variables) as *defaults*; passing
        # disable=False explicitly would override them, so only pass it to switch off.
        extra = {"disable": True} if disable else {}
        self._bar = tqdm(total=total, initial=initial, unit="step", unit_scale=True, dynamic_ncols=True,
                         smoothing=0.05, **extra)
        self._status, self._status_read = status, float("-inf")

    def update(self, n: int = 1) -> None:
        now = time.monotonic()
        if self._status is not None and now - self._status_read >= STATUS_EVERY_S:
            self._status_read = now
            self._bar.set_postfix(self._status(), refresh=False)  # shown on the next redraw below
        self._bar.update(n)

    def close(self) -> None:
        self._bar.close()
