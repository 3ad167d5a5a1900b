"""Rectified-flow sampler: x_t = t * noise + (1 - t) * x_0, the DiT predicts v = noise - x_0.

Sampling integrates dx/dt = v from t=1 (noise) to t=0 with N Euler steps. The condition is the
normalised latent of the degraded frame. One noise map is shared by every frame of a clip (it is
broadcast over the batch), so static content gets the same sample in every frame: no flicker.
"""

from __future__ import annotations

import torch


def flow_interpolate(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t for a batch of t (B,)."""
    t = t.view(-1, 1, 1, 1)
    return t * noise + (1 - t) * x0


def flow_target(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    return noise - x0


@torch.no_grad()
def sample_flow(dit, cond: torch.Tensor, noise: torch.Tensor, steps: int) -> torch.Tensor:
    """cond (B,64,h,w); noise (1 or B,64,h,w) -> x_0 estimate (B,64,h,w)."""
    if not 1 <= steps <= 1000:
        raise ValueError(f"steps must be in [1, 1000], got {steps}")
    x = noise.expand_as(cond).to(cond.dtype)
    ts = torch.linspace(1.0, 0.0, steps + 1, device=cond.device)
    for i in range(steps):
        t = ts[i].expand(cond.shape[0])
        v = dit(x, t, cond)
        x = x + (ts[i + 1] - ts[i]) * v
    return x
