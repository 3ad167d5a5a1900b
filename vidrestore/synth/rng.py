"""Scalar draws from a ``torch.Generator`` (the synthetic data is a pure function of the generator's seed)."""

from __future__ import annotations

import math

import torch

__all__ = ["uniform", "log_uniform", "randint", "coin"]


def uniform(g: torch.Generator, lo: float, hi: float) -> float:
    """One sample of U(lo, hi)."""
    return lo + (hi - lo) * torch.rand((), generator=g).item()


def log_uniform(g: torch.Generator, lo: float, hi: float) -> float:
    """One sample, uniform in log space (for scale-like quantities such as photon counts)."""
    return math.exp(uniform(g, math.log(lo), math.log(hi)))


def randint(g: torch.Generator, lo: int, hi: int) -> int:
    """One integer in [lo, hi] (both inclusive)."""
    return int(torch.randint(int(lo), int(hi) + 1, (), generator=g).item())


def coin(g: torch.Generator, p: float) -> bool:
    """True with probability p."""
    return torch.rand((), generator=g).item() < p
