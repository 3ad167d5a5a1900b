"""Guided refinement: a parameter-free last stage after the chain, against the noise it leaves on flat areas.

The decoder predicts a correction of the degraded frame (decoder.residual), so every bit of noise it removes it
must cancel pixel by pixel; on flat areas it leaves some (benchmarks/flat_areas.py: ~36 dB on flat ramps at
σ = 25, where FFDNet reaches 46-48). A colour guided filter (He et al., "Guided Image Filtering", 2010; kornia's
`guided_blur`, computed faster by `guided_blur_rgb`) removes what is left while keeping edges, with its ε set from the noise the network removed:

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

import torch
import torch.nn.functional as F

from vidrestore.models.align import window_sums

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


def box_mean(x: torch.Tensor, k: int) -> torch.Tensor:
    """Mean over the k x k box centred on each pixel, borders reflected (kornia's `box_blur(x, k, "reflect")`):
    (N,C,H,W) -> same. k shrinks along an axis shorter than k // 2 + 1 (to 2 * size - 1, the widest box reflection
    can fill), so frames of any size pass. Summed as shifted slices (align.window_sums): ~10x faster on a CPU than
    kornia's conv2d with the 1/k^2 kernel."""
    H, W = x.shape[-2:]
    ky, kx = min(k, 2 * H - 1), min(k, 2 * W - 1)
    x = F.pad(x, (kx // 2, kx // 2, ky // 2, ky // 2), mode="reflect") if max(kx, ky) > 1 else x
    return window_sums(x, ky, kx) / (kx * ky)


_PAIRS = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]  # the six distinct entries of a symmetric 3x3 matrix


def guided_blur_rgb(guide: torch.Tensor, src: torch.Tensor, k: int, eps: float) -> torch.Tensor:
    """Colour guided filter (He et al. 2010, section 3.5), the same as kornia's `guided_blur(guide, src, (k, k), eps)`
    for a 3-channel guide, float32, to ~1e-5: guide (N,3,H,W), src (N,C,H,W) -> (N,C,H,W).

        per box:  a = (Sigma_I + eps 1)^-1 cov(I, p)   (3 x C),   b = mean p - a^T mean I
        out      = box(a)^T I + box(b)

    The 3x3 systems are solved in closed form (a Cholesky factor per pixel) and all box sums of a stage run
    as one call; ~4x faster on a CPU than kornia's batched LU solve per pixel and separate box blurs. Any frame size."""
    C = src.shape[1]
    I, p = guide.float(), src.float()
    same = src is guide
    prods = [I[:, i] * I[:, j] for i, j in _PAIRS] + ([] if same else [I[:, i] * p[:, c] for i in range(3) for c in range(C)])
    means = box_mean(torch.cat([I, torch.stack(prods, 1)] + ([] if same else [p]), 1), k)
    mI, rest = means[:, :3], means[:, 3:]
    S = {pair: rest[:, n] - mI[:, pair[0]] * mI[:, pair[1]] for n, pair in enumerate(_PAIRS)}  # Sigma_I entries
    s00, s01, s02, s11, s12, s22 = (S[pr] + (eps if pr[0] == pr[1] else 0.0) for pr in _PAIRS)
    if same:
        mp = mI
        cov = [[S[(min(i, c), max(i, c))] for c in range(3)] for i in range(3)]  # cov(I, I) = Sigma_I (without eps)
    else:
        mp = rest[:, 6 + 3 * C:]
        cov = [[rest[:, 6 + i * C + c] - mI[:, i] * mp[:, c] for c in range(C)] for i in range(3)]
    # Cholesky factor L of (Sigma_I + eps) (stable in float32 where the adjugate is not: on near-grey boxes Sigma_I is
    # near rank 1, and det ~ eps^2 is lost among products of ~var^2); a pivot of a positive semi-definite Sigma_I plus
    # eps is >= eps, so clamping there only undoes rounding
    l00 = s00.clamp_min(eps).sqrt()
    l10, l20 = s01 / l00, s02 / l00
    l11 = (s11 - l10 * l10).clamp_min(eps).sqrt()
    l21 = (s12 - l10 * l20) / l11
    l22 = (s22 - l20 * l20 - l21 * l21).clamp_min(eps).sqrt()
    a = [[None] * C for _ in range(3)]
    for c in range(C):  # L L^T a = cov: forward, then back substitution
        y0 = cov[0][c] / l00
        y1 = (cov[1][c] - l10 * y0) / l11
        y2 = (cov[2][c] - l20 * y0 - l21 * y1) / l22
        a[2][c] = y2 / l22
        a[1][c] = (y1 - l21 * a[2][c]) / l11
        a[0][c] = (y0 - l10 * a[1][c] - l20 * a[2][c]) / l00
    b = [mp[:, c] - a[0][c] * mI[:, 0] - a[1][c] * mI[:, 1] - a[2][c] * mI[:, 2] for c in range(C)]
    ab = box_mean(torch.stack([a[i][c] for i in range(3) for c in range(C)] + b, 1), k)  # (N, 3C + C, H, W)
    out = ab[:, 3 * C:] + sum(ab[:, i * C:(i + 1) * C] * I[:, i:i + 1] for i in range(3))
    return out.to(src.dtype)


def guided_refine(out: torch.Tensor, lq: torch.Tensor, strength: float, kernel: int = 5, passes: int = 2,
                  detail: float = 0.0, detail_kernel: int = 9, tile: int = 256) -> torch.Tensor:
    """out, lq: float (T,3,H,W) in [0,1] -> (T,3,H,W): `out` refined frame by frame (see the module docstring).

    strength 0 returns `out` itself (the detail pass shares its eps, so it is off too). Frames run one at a time,
    so memory does not grow with T, and a large frame runs in tiles of `tile` x `tile` pixels, each read with a margin
    as wide as the filters reach (`reach`), so that the tiles put together are the whole frame's result: the
    intermediate images of a tile stay in the CPU's caches (at 1280x720 ~3x faster than the frame at once).
    """
    if strength <= 0:
        return out
    frames = []
    for o, x, s in zip(out.split(1), lq.split(1), removed_sigma(lq, out).tolist()):  # o, x: (1,3,H,W)
        if s >= MIN_SIGMA:
            eps = max((strength * s) ** 2, MIN_EPS)
            fade = detail * detail_fade(s)
            o = _in_tiles(lambda o_, x_: _refine_frame(o_, x_, eps, kernel, passes, fade, detail_kernel), o, x, tile,
                          reach(kernel, passes, detail_kernel if detail > 0 else 0))
        frames.append(o)
    return torch.cat(frames)


def reach(kernel: int, passes: int, detail_kernel: int = 0) -> int:
    """How far (pixels) a refined pixel depends on its surroundings: every guided filter box-averages twice (the
    statistics, then a and b), each pass of it reads the one before, and the detail pass (detail_kernel > 0) the last."""
    return passes * 2 * (kernel // 2) + 2 * (detail_kernel // 2)


def _refine_frame(o: torch.Tensor, x: torch.Tensor, eps: float, kernel: int, passes: int, fade: float,
                  detail_kernel: int) -> torch.Tensor:
    """The refinement of one frame (or tile) o (1,3,h,w) with its degraded frame x; fade 0 skips the detail pass."""
    guide = o
    for _ in range(passes):
        guide = guided_blur_rgb(guide, o, kernel, eps)
    if fade > 0:
        d = guided_blur_rgb(guide, x, detail_kernel, eps)
        guide = guide + fade * (d - guide)
    return guide


def _in_tiles(fn, o: torch.Tensor, x: torch.Tensor, tile: int, margin: int) -> torch.Tensor:
    """fn(o, x) of (1,C,H,W) frames, run on tile x tile pieces, each with `margin` pixels of its surroundings (fewer at
    the frame's edges, where fn sees the frame's own border): the pieces agree with fn on the whole frame wherever fn
    reaches no further than `margin`."""
    H, W = o.shape[-2:]
    if H <= tile + 2 * margin and W <= tile + 2 * margin:
        return fn(o, x)
    res = torch.empty_like(o)
    for y in range(0, H, tile):
        for x0 in range(0, W, tile):
            ya, yb, xa, xb = max(0, y - margin), min(H, y + tile + margin), max(0, x0 - margin), min(W, x0 + tile + margin)
            piece = fn(o[..., ya:yb, xa:xb], x[..., ya:yb, xa:xb])
            h, w = min(tile, H - y), min(tile, W - x0)
            res[..., y:y + h, x0:x0 + w] = piece[..., y - ya:y - ya + h, x0 - xa:x0 - xa + w]
    return res
