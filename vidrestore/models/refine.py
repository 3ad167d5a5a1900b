"""Guided refinement: a parameter-free last stage after the chain, against the noise it leaves on flat areas.

The decoder predicts a correction of the degraded frame (decoder.residual), so every bit of noise it removes it
must cancel pixel by pixel; on flat areas it leaves some (benchmarks/flat_areas.py: ~36 dB on flat ramps at
σ = 25, where FFDNet reaches 46-48). A colour guided filter (He et al., "Guided Image Filtering", 2010; kornia's
`guided_blur`) removes what is left while keeping edges, with its ε set from the noise the network removed:

    out, lq (T,3,H,W)                                     per frame:
      s   = 1.4826 · median |lq - out|                    the noise the network removed (robust σ estimate)
      eps = (strength · s)²                               below eps a local variance counts as noise
      g   = guided_blur(guide=out, out, k, eps)           pass 1: edge-aware smoothing of the output
      out = guided_blur(guide=g,   out, k, eps)           pass 2: again, guided by the cleaner pass-1 image

An optional detail pass then takes back some of what the network smoothed away: a guided filter of the
*degraded* frame, guided by the refined one, fits lq ≈ a·out + b in each box, so where lq holds more contrast
than out (a > 1) it returns that contrast, with the box's noise averaged away (eps as above):

      d   = guided_blur(guide=out, lq, kd, eps)         the degraded frame's detail, as the output's structure allows
      out = out + detail · fade(s) · (d - out)          fade(s) = min(s / S0, (S0 / s)²), 1 at s = S0 = 20/255

The fade keeps the pass away from the two ends where it costs: little noise removed (the network kept the detail,
so d only brings noise back) and heavy noise (lq is too noisy to lend detail).

Where the network removed (almost) nothing (s < 0.5/255: a clean or only compressed frame, where the fallback
gate returns the input), the frame passes through untouched. `strength`, `detail` and the box sizes are tuned per
weights file, on training photos (training/tune_refine.py, MODEL_CARD.md).
"""

from __future__ import annotations

import kornia
import torch

MIN_SIGMA = 0.5 / 255  # below this much removed noise a frame is left as the network made it
DETAIL_SIGMA = 20 / 255  # S0: the removed noise at which the detail pass is strongest
MIN_EPS = 1e-6  # keeps the 3x3 solves of the colour guided filter regular on perfectly flat patches


def removed_sigma(lq: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """(T,3,H,W) x2 -> (T,): robust standard deviation (1.4826 · median absolute value) of lq - out per frame."""
    return (lq - out).abs().flatten(1).median(dim=1).values * 1.4826


def setting_problems(kernel: int, passes: int, detail: float, detail_kernel: int) -> list[tuple[str, str]]:
    """(inference key, what is wrong) for each invalid refinement setting besides the strength; the one set of rules
    for the Restorer (a file's or a config's values) and training/set_inference.py (values about to be written)."""
    problems = [(key, f"must be odd and >= 3, got {k}") for key, k in (("refine_kernel", kernel),
                                                                        ("refine_detail_kernel", detail_kernel))
                if k < 3 or k % 2 == 0]
    if passes not in (1, 2):
        problems.append(("refine_passes", f"must be 1 or 2, got {passes}"))
    if not 0 <= detail <= 1:
        problems.append(("refine_detail", f"must be in [0, 1] (0 = off), got {detail}"))
    return problems


def detail_fade(s: float) -> float:
    """The detail pass's weight at removed noise s (1 at DETAIL_SIGMA, falling as s and as 1/s² either side)."""
    return min(s / DETAIL_SIGMA, (DETAIL_SIGMA / s) ** 2)


def guided_refine(out: torch.Tensor, lq: torch.Tensor, strength: float, kernel: int = 5, passes: int = 2,
                  detail: float = 0.0, detail_kernel: int = 9) -> torch.Tensor:
    """out, lq: float (T,3,H,W) in [0,1] -> (T,3,H,W): `out` refined frame by frame (see the module docstring).

    strength 0 returns `out` itself (the detail pass shares its eps, so it is off too). Frames run one at a time,
    so memory does not grow with T.
    """
    if strength <= 0:
        return out
    frames = []
    for o, x, s in zip(out.split(1), lq.split(1), removed_sigma(lq, out).tolist()):  # o, x: (1,3,H,W)
        if s >= MIN_SIGMA:
            eps = max((strength * s) ** 2, MIN_EPS)
            guide = o
            for _ in range(passes):
                guide = kornia.filters.guided_blur(guide, o, (kernel, kernel), eps)
            o = guide
            if detail > 0:
                d = kornia.filters.guided_blur(o, x, (detail_kernel, detail_kernel), eps)
                o = o + detail * detail_fade(s) * (d - o)
        frames.append(o)
    return torch.cat(frames)
