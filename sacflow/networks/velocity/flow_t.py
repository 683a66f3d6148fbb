"""Flow-T: a Transformer-decoder velocity with state-only cross-attention (paper Equ. 7-9).

The action-time token ``Linear(x_k) + timeMLP(t_k)`` is refined by decoder blocks
(self-attention, cross-attention to a single state token, feed-forward), shared by all
K steps; the velocity is a linear projection of the result. With one query and one
key, softmax is identically 1, so self-attention is a linear map of the token and
cross-attention does not depend on the query. We keep the full attention here (so
parameter counts match the reference); ``closed_form_attention`` uses the exact
shortcut W_o(W_v h + b_v) + b_o, proven equal in the tests. With the shortcut the
cross-attention term depends on the state only, so ``context`` computes it once per
observation instead of once per flow step (and a pre-norm block skips the norm whose
output the query-free cross-attention would ignore).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sacflow.networks.layers import bounded_log_std, lecun_init_, mlp, norm_layer
from sacflow.networks.velocity.base import VelocityField


class Attention(nn.Module):
    """Multi-head attention with q/k/v/o projections (Flax MultiHeadDotProductAttention)."""

    def __init__(self, dim: int, heads: int, closed_form: bool):
        super().__init__()
        if dim % heads:
            raise ValueError(f"d_model={dim} must be divisible by n_heads={heads}")
        self.heads, self.closed_form = heads, closed_form
        self.q, self.k, self.v, self.o = (lecun_init_(nn.Linear(dim, dim)) for _ in range(4))

    def forward(self, query: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        if self.closed_form and memory.shape[-2] == 1:
            # Softmax over a single key is 1: the output is the projected value of that key.
            return self.o(self.v(memory)).expand_as(query)
        b, lq, d = query.shape
        split = lambda x: x.view(b, x.shape[1], self.heads, d // self.heads).transpose(1, 2)
        out = F.scaled_dot_product_attention(split(self.q(query)), split(self.k(memory)), split(self.v(memory)))
        return self.o(out.transpose(1, 2).reshape(b, lq, d))


class DecoderBlock(nn.Module):
    """Self-attention, state cross-attention and FFN, each a residual with a norm.

    ``norm_position='pre'`` (the paper): h + f(N(h)). ``'post'`` (the official code):
    N(h + f(h)).
    """

    def __init__(self, dim, heads, ffn_mult, norm, norm_position, closed_form, brn):
        super().__init__()
        if norm_position not in ("pre", "post"):
            raise ValueError(f"norm_position must be pre or post, got {norm_position!r}")
        self.pre = norm_position == "pre"
        self.self_attn = Attention(dim, heads, closed_form)
        self.cross_attn = Attention(dim, heads, closed_form)
        self.ffn = mlp(dim, [ffn_mult * dim], dim, "gelu")
        self.norms = nn.ModuleList(norm_layer(norm, dim, brn) for _ in range(3))

    def _residual(self, h, i, f):
        if self.pre:
            return h + f(self.norms[i](h))
        return self.norms[i](h + f(h))

    @property
    def hoists_cross_attention(self) -> bool:
        return self.cross_attn.closed_form

    def state_term(self, memory: torch.Tensor) -> torch.Tensor:
        """The closed-form cross-attention output: a function of the state token alone."""
        return self.cross_attn.o(self.cross_attn.v(memory))

    def forward(self, h, memory, state_term=None):
        h = self._residual(h, 0, lambda x: self.self_attn(x, x))
        if state_term is None:
            h = self._residual(h, 1, lambda x: self.cross_attn(x, memory))
        elif self.pre:
            h = h + state_term
        else:
            h = self.norms[1](h + state_term)
        return self._residual(h, 2, self.ffn)


class FlowTVelocity(VelocityField):
    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        steps: int,
        d_model: int = 96,
        n_heads: int = 4,
        n_layers: int = 2,
        ffn_mult: int = 4,
        norm: str = "batchrenorm",
        norm_position: str = "pre",
        input_norm: str = "batchrenorm",
        per_step_input_norm: bool = True,
        closed_form_attention: bool = False,
        learn_noise: bool = True,
        log_std_bounds: Sequence[float] = (-5.0, 2.0),
        batch_renorm: dict | None = None,
    ):
        super().__init__()
        self.learns_noise = learn_noise
        self.log_std_bounds = tuple(log_std_bounds)
        self.obs_norm = norm_layer(input_norm, obs_dim, batch_renorm)
        self.state_encoder = mlp(obs_dim, [d_model // 2], d_model, "silu")
        # The reference gives every flow step its own input normaliser (BatchRenorm_1..K).
        n_x_norms = steps if per_step_input_norm else 1
        self.x_norms = nn.ModuleList(norm_layer(input_norm, act_dim, batch_renorm) for _ in range(n_x_norms))
        self.x_embed = lecun_init_(nn.Linear(act_dim, d_model))
        self.time_mlp = mlp(1, [d_model // 4, d_model // 2], d_model, "silu")
        self.blocks = nn.ModuleList(
            DecoderBlock(d_model, n_heads, ffn_mult, norm, norm_position, closed_form_attention, batch_renorm)
            for _ in range(n_layers)
        )
        # Pre-norm stacks end with a norm so the heads see normalised features.
        self.final_norm = norm_layer(norm, d_model, batch_renorm) if norm_position == "pre" else nn.Identity()
        self.velocity_head = lecun_init_(nn.Linear(d_model, act_dim))
        self.log_std_head = lecun_init_(nn.Linear(d_model, act_dim)) if learn_noise else None

    def context(self, obs):
        memory = self.state_encoder(self.obs_norm(obs)).unsqueeze(1)
        ctx = {"obs": obs, "memory": memory}
        if self.blocks[0].hoists_cross_attention:
            ctx["state_terms"] = [block.state_term(memory) for block in self.blocks]
        return ctx

    def forward(self, ctx, x, t, k):
        x_norm = self.x_norms[k if len(self.x_norms) > 1 else 0]
        # t is [1, 1] inside a rollout: embed it once and broadcast over the batch.
        h = self.x_embed(x_norm(x)) + self.time_mlp(t)
        h = h.unsqueeze(1)
        state_terms = ctx.get("state_terms", [None] * len(self.blocks))
        for block, state_term in zip(self.blocks, state_terms):
            h = block(h, ctx["memory"], state_term)
        h = self.final_norm(h).squeeze(1)
        log_std = None
        if self.log_std_head is not None:
            log_std = bounded_log_std(self.log_std_head(h), *self.log_std_bounds)
        return self.velocity_head(h), log_std
