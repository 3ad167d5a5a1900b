"""Splitting frames into spatial tiles and temporal windows, and blending them back.

Blending uses a running weighted mean written as a lerp, canvas += w/(W+w) * (tile - canvas),
so where overlapping tiles agree the result is bit-identical to them (an identity model tiles
to exactly its input) and where they disagree the seam is feathered linearly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad the last two dims of x (…,H,W) at the bottom/right to multiples of `multiple`.
    Reflect where the frame is large enough, replicate otherwise. Returns (padded, (H, W))."""
    H, W = x.shape[-2:]
    ph, pw = -H % multiple, -W % multiple
    if ph == 0 and pw == 0:
        return x, (H, W)
    flat = x.reshape(-1, *x.shape[-3:])
    # reflect needs pad < size; apply it in pieces, replicating what remains
    rh, rw = min(ph, H - 1), min(pw, W - 1)
    if rh or rw:
        flat = F.pad(flat, (0, rw, 0, rh), mode="reflect")
    if ph - rh or pw - rw:
        flat = F.pad(flat, (0, pw - rw, 0, ph - rh), mode="replicate")
    return flat.reshape(*x.shape[:-2], H + ph, W + pw), (H, W)


def spans(length: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """1-D windows [start, end) of `size` covering `length`, consecutive ones overlapping by at
    least `overlap`; the last is aligned to the end. A single span if length <= size."""
    if length <= size:
        return [(0, length)]
    step = size - overlap
    starts = list(range(0, length - size, step)) + [length - size]
    return [(s, s + size) for s in starts]


def ramp(length: int, start: int, end: int, total: int, overlap: int) -> torch.Tensor:
    """1-D feather weights for the span [start, end) of a `total`-long axis: rises linearly over
    `overlap` samples on sides that border another span, 1 elsewhere; always > 0."""
    w = torch.ones(length)
    if overlap > 0:
        r = torch.arange(1, overlap + 1, dtype=torch.float32) / (overlap + 1)
        n = min(overlap, length)
        if start > 0:
            w[:n] = torch.minimum(w[:n], r[:n])
        if end < total:
            w[length - n:] = torch.minimum(w[length - n:], r[:n].flip(0))
    return w


class Accumulator:
    """Running feathered mean over overlapping blocks of a (T,C,H,W) canvas."""

    def __init__(self, shape, dtype=torch.float32):
        self.canvas = torch.zeros(shape, dtype=dtype)
        self.weight = torch.zeros((shape[0], 1, shape[2], shape[3]), dtype=dtype)

    def add(self, block: torch.Tensor, t: slice, y: slice, x: slice, w: torch.Tensor) -> None:
        """block (t,C,h,w); w broadcastable to (t,1,h,w), > 0."""
        c, W = self.canvas[t, :, y, x], self.weight[t, :, y, x]
        W_new = W + w
        self.canvas[t, :, y, x] = torch.lerp(c, block.to(c.dtype), w / W_new)
        self.weight[t, :, y, x] = W_new


def tiled(fn, frames: torch.Tensor, noise: torch.Tensor, tile: int, overlap: int, factor: int = 32) -> torch.Tensor:
    """Apply fn(frames_tile, noise_tile) -> out_tile over spatial tiles with feathered blending.

    frames (T,3,H,W) with H,W multiples of `factor`; noise (1,C,H/factor,W/factor);
    tile and overlap multiples of `factor`.
    """
    T, _, H, W = frames.shape
    acc = None
    for y0, y1 in spans(H, tile, overlap):
        wy = ramp(y1 - y0, y0, y1, H, overlap)
        for x0, x1 in spans(W, tile, overlap):
            wx = ramp(x1 - x0, x0, x1, W, overlap)
            n = noise[..., y0 // factor: y1 // factor, x0 // factor: x1 // factor]
            out = fn(frames[..., y0:y1, x0:x1], n).float().cpu()
            if acc is None:
                acc = Accumulator((T, out.shape[1], H, W))
            acc.add(out, slice(None), slice(y0, y1), slice(x0, x1), torch.minimum(wy[:, None], wx[None, :]))
    return acc.canvas


def windowed(fn, frames: torch.Tensor, window: int, overlap: int) -> torch.Tensor:
    """Apply fn over temporal windows of `window` frames overlapping by `overlap`, feathered in time."""
    T = frames.shape[0]
    acc = None
    for t0, t1 in spans(T, window, overlap):
        out = fn(frames[t0:t1])
        if acc is None:
            acc = Accumulator((T, *out.shape[1:]))
        acc.add(out, slice(t0, t1), slice(None), slice(None), ramp(t1 - t0, t0, t1, T, overlap).view(-1, 1, 1, 1))
    return acc.canvas
