"""Terminal progress bar over environment steps (thin wrapper around tqdm)."""

from __future__ import annotations

from typing import Any

from tqdm import tqdm


class Progress:
    """Progress bar showing steps/s and ETA; ``initial`` is the step a resumed run starts at."""

    def __init__(self, total: int, initial: int = 0, disable: bool = False):
        # tqdm reads TQDM_DISABLE (and other TQDM_* variables) as *defaults*; passing
        # disable=False explicitly would override them, so only pass it to switch off.
        extra = {"disable": True} if disable else {}
        self._bar = tqdm(total=total, initial=initial, unit="step", unit_scale=True, dynamic_ncols=True, **extra)

    def update(self, n: int = 1, **postfix: Any) -> None:
        if postfix:
            self._bar.set_postfix(postfix, refresh=False)  # shown on the next redraw below
        self._bar.update(n)

    def close(self) -> None:
        self._bar.close()
