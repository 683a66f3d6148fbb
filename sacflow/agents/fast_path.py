"""Speed levers of an agent's update and action sampler, each behind a config switch (``fast:``).

* ``compile``: ``torch.compile`` the sampler and the critic / actor losses (forward and backward;
  the optimiser steps stay eager foreach kernels). Random draws
  inside compiled code use eager's generator (``fallback_random``), so a compiled run draws the
  same numbers as an eager one and ``tests/test_fast_path.py`` can compare them.
* ``compile_mode``: ``default``, ``max-autotune`` or ``reduce-overhead`` (CUDA graphs on a GPU: the
  step marker and output cloning below make replayed graphs safe to keep outputs from).
* ``bf16``: bfloat16 autocast around the networks; losses, log-densities and BatchRenorm
  statistics stay in float32. Opt-in (docs/performance.md says what it was checked against).

Mode switches (train/eval, frozen critic weights) happen outside the compiled functions, so
each compiled function always sees one mode and is compiled once.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")


@dataclass(frozen=True)
class FastPath:
    compile: bool = False
    compile_mode: str = "default"
    bf16: bool = False
    device_type: str = "cpu"

    def __post_init__(self):
        if self.compile_mode not in COMPILE_MODES:
            raise ValueError(f"fast.compile_mode must be one of {COMPILE_MODES}, got {self.compile_mode!r}")

    @classmethod
    def from_config(cls, fast_cfg, device: torch.device) -> FastPath:
        if fast_cfg is None:
            return cls(device_type=device.type)
        return cls(bool(fast_cfg.compile), str(fast_cfg.compile_mode), bool(fast_cfg.bf16), device.type)

    @property
    def cuda_graphs(self) -> bool:
        return self.compile and self.compile_mode == "reduce-overhead" and self.device_type == "cuda"

    def wrap(self, fn, overhead_bound: bool = False):
        """``fn`` compiled when ``compile`` is on; the plain function otherwise.

        ``overhead_bound`` marks a function of tiny tensors (the B=1 sampler). On a CPU its
        compiled graph gets inductor's C++ wrapper: the ~100-200 kernel calls of one action are
        made from C++ instead of Python, which halves Flow-G's and cuts Flow-T's action latency by
        ~3.5x here (1 thread). The B=512 update gains nothing from it (measured) and compiles longer.
        """
        if not self.compile:
            return fn
        import torch._inductor.config as inductor_config

        inductor_config.fallback_random = True  # the same random stream as eager
        if overhead_bound and self.device_type == "cpu" and self.compile_mode == "default":
            # One thread for its generated kernels: B=1 tensors are too small to split, and an
            # OpenMP fork/join per kernel costs more than it saves (Flow-T 0.94 -> 0.80 ms at 2 threads).
            compiled = torch.compile(fn, options={"cpp_wrapper": True, "cpp.threads": 1})
        else:
            compiled = torch.compile(fn, mode=None if self.compile_mode == "default" else self.compile_mode)
        if not self.cuda_graphs:
            return compiled

        def step(*args, **kwargs):
            torch.compiler.cudagraph_mark_step_begin()  # a new iteration: earlier replays may be overwritten
            return compiled(*args, **kwargs)

        return step

    def clone(self, out):
        """CUDA-graph outputs live in static memory that the next replay overwrites: copy what we keep."""
        if not self.cuda_graphs:
            return out
        if isinstance(out, dict):
            return {k: self.clone(v) for k, v in out.items()}
        if isinstance(out, tuple):  # the vectorised losses return (loss, ..., info)
            return tuple(self.clone(v) for v in out)
        return out.clone()

    def autocast(self):
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=torch.bfloat16)

    def adam(self, params, lr: float, betas) -> torch.optim.Adam:
        # On a GPU with graphs, Adam keeps its step counter on the device (capturable) so the
        # whole step can be replayed without a host round trip; elsewhere one fused foreach kernel.
        return torch.optim.Adam(params, lr=lr, betas=tuple(betas), foreach=True, capturable=self.cuda_graphs)

    @staticmethod
    @contextlib.contextmanager
    def in_mode(module: nn.Module, training: bool):
        """Train/eval mode for a block of code; no module walk when it is already in that mode
        (a walk over Flow-T's ~100 submodules is a visible share of a B=1 action)."""
        if module.training == training:
            yield
            return
        module.train(training)
        try:
            yield
        finally:
            module.train(not training)

    @staticmethod
    @contextlib.contextmanager
    def frozen(module: nn.Module):
        """No weight gradients while the module only scores another network's output."""
        module.requires_grad_(False)
        try:
            yield
        finally:
            module.requires_grad_(True)
