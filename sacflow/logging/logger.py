"""Metric logger that fans out to CSV (source of truth), TensorBoard and W&B.

TensorBoard and W&B are imported only when enabled, so a run with both off
does not pay for (or depend on) either package.
"""

from __future__ import annotations

import numbers
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sacflow.logging.csv_table import CsvTable


class Logger:
    """Log namespaced scalar metrics (``'train/episode_return'``) into named tables.

    Each table (``'train'``, ``'eval'``, ...) is one CSV file ``out_dir/<table>.csv``.
    ``wandb`` is ``None`` or a dict with keys mode ('online' | 'offline' | 'disabled'),
    project, entity, group, name.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike,
        cfg_dict: Mapping[str, Any],
        use_tensorboard: bool = True,
        wandb: Mapping[str, Any] | None = None,
        resume_step: int | None = None,
        wandb_run_id: str | None = None,
    ):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._tables: dict[str, CsvTable] = {}
        # The last value of every number logged, and ``step/<table>`` of each table's last row (the progress bar's).
        self.latest: dict[str, float] = {}
        if resume_step is not None:
            # Rows logged after the checkpoint will be logged again by the resumed run.
            for path in sorted(self.out_dir.glob("*.csv")):
                self._tables[path.stem] = CsvTable(path)
                self._tables[path.stem].truncate_after(resume_step)

        self._tb = None
        if use_tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            # TensorBoard hides earlier events with step >= purge_step. The CSV keeps
            # rows with step <= resume_step, so purge from resume_step + 1 to match.
            purge_step = None if resume_step is None else resume_step + 1
            self._tb = SummaryWriter(str(self.out_dir / "tb"), purge_step=purge_step)

        self._wandb_run = None
        self._wandb_step = -1  # W&B drops rows whose step goes backwards; track it to warn once
        self._warned_wandb_step = False
        if wandb is not None and wandb["mode"] != "disabled":
            self._wandb_run = _start_wandb(wandb, self.out_dir, cfg_dict, wandb_run_id)

    @property
    def wandb_run_id(self) -> str | None:
        """Id to checkpoint so a resumed run continues the same W&B run."""
        return None if self._wandb_run is None else self._wandb_run.id

    def log(self, table: str, metrics: Mapping[str, Any], step: int) -> None:
        if table not in self._tables:
            self._tables[table] = CsvTable(self.out_dir / f"{table}.csv")
        self._tables[table].write({"step": step, **metrics})
        self.latest.update({k: v for k, v in metrics.items() if isinstance(v, numbers.Real)})
        self.latest[f"step/{table}"] = step

        if self._tb is not None:
            for key, value in metrics.items():
                value = value.item() if hasattr(value, "item") else value
                if isinstance(value, numbers.Real):
                    self._tb.add_scalar(key, value, global_step=step)

        if self._wandb_run is not None:
            self._log_wandb(metrics, step)

    def _log_wandb(self, metrics: Mapping[str, Any], step: int) -> None:
        # W&B steps are shared by all tables and must not decrease. Several tables
        # logging the same step is fine: W&B merges them into one history row.
        if step < self._wandb_step:
            if not self._warned_wandb_step:
                warnings.warn(
                    f"W&B cannot log step {step} after step {self._wandb_step}; such rows "
                    "are skipped in W&B (they are still in the CSV and TensorBoard).",
                    stacklevel=3,
                )
                self._warned_wandb_step = True
            return
        self._wandb_step = step
        self._wandb_run.log(dict(metrics), step=step)

    def close(self) -> None:
        """Flush everything; finishing W&B keeps sequential multirun jobs in separate runs."""
        for table in self._tables.values():
            table.close()
        self._tables.clear()
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self._wandb_run is not None:
            self._wandb_run.finish()
            self._wandb_run = None


def _start_wandb(settings: Mapping[str, Any], out_dir: Path, cfg_dict: Mapping[str, Any], run_id: str | None):
    import wandb

    return wandb.init(
        mode=settings["mode"],
        project=settings.get("project"),
        entity=settings.get("entity"),
        group=settings.get("group"),
        name=settings.get("name"),
        dir=str(out_dir),
        config=dict(cfg_dict),
        # None lets W&B pick a fresh id (wandb.util.generate_id is gone in wandb 0.31);
        # the trainer checkpoints Logger.wandb_run_id to pass it back here on resume.
        id=run_id,
        resume="allow",
    )
