"""Splitting frames into spatial tiles and temporal windows, and blending them back.

Blending uses a running weighted mean written as a lerp, canvas += w/(W+w) * (tile - canvas),
so where overlapping tiles agree the result is bit-identical to them (an identity model tiles
to exactly its input) and where they disagree the seam is feathered linearly (tiles, `ramp`) or
handed off at the middle of the overlap (temporal windows, `handoff`).
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


def dihedral(x: torch.Tensor, k: int, inverse: bool = False) -> torch.Tensor:
    """The k-th of the 8 flips/transposes of the last two dims (k = 0: identity; 1: left-right;
    2: up-down; 3: both; 4-7: the same after a transpose), or its inverse: (..., H, W) -> (..., H|W, W|H)."""
    dims = [d for d, bit in ((-1, 1), (-2, 2)) if k & bit]
    if inverse and k & 4:
        x = x.transpose(-1, -2)
    x = x.flip(dims) if dims else x
    return x.transpose(-1, -2) if k & 4 and not inverse else x


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


# weight of a window's output on the frames of an overlap that the other window restores
HANDOFF_EPS = 1e-4
HANDOFF_MIN_OVERLAP = 4


def handoff(length: int, start: int, end: int, total: int, overlap: int) -> torch.Tensor:
    """1-D temporal weights for the window [start, end) of a `total`-frame clip: of the `overlap` frames
    it shares with a neighbouring window, the half nearer its own edge goes to the neighbour (weight
    HANDOFF_EPS here, never 0), so each frame of an overlap comes from the window in which it has more
    neighbours on both sides. A frame at a window's edge has no neighbours on one side and restores
    ~0.3 dB worse; feathering would still mix it in. Below HANDOFF_MIN_OVERLAP frames both halves sit
    within a frame of an edge and the feathered mean of the two does better, so those overlaps get `ramp`'s
    weights (measured on 40-frame clips at sigma 25, model card "Temporal windows": 16/4 31.391 dB feathered,
    31.395 handed off, worst frame -0.10 / -0.025 dB against one window; 12/2 31.358 feathered, 31.346 handed off)."""
    if overlap < HANDOFF_MIN_OVERLAP:
        return ramp(length, start, end, total, overlap)
    w = torch.ones(length)
    n = min(overlap, length)
    if n > 0:
        near_start, near_end = n // 2, n - n // 2  # an odd middle frame goes to the later window
        if start > 0:
            w[:near_start] = HANDOFF_EPS
        if end < total:
            w[length - near_end:] = HANDOFF_EPS
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


class WindowStream:
    """fn over temporal windows of `window` frames overlapping by `overlap`, handed off in time
    (`handoff`), for a stream of frames: push them one at a time; each frame's output comes back as soon
    as no later window can change it.

    The windows are those of `spans(T, window, overlap)` for the stream's length T, which is only known
    at `close()`: window [s, s + window) is not the last one exactly when frame s + window exists, so it
    runs as soon as that frame arrives, and the last one (aligned to the end) runs at close. The weights
    (`handoff`: each half of an overlap from the window it is more central in) and the order of the
    running means are those of the whole clip's windows accumulated on one canvas (`Accumulator`), so
    the outputs are bit-identical to that, whatever the stream's length, while
    at most window + (window - overlap) frames are held.

    Positions below `skip_before` need no output: windows made only of them do not run, and their outputs
    come back as None. `on_window(t0, t1)` is called before each window runs. After each push/close,
    `emitted_inputs` holds the input frames of the outputs it returned, in the same order.
    """

    def __init__(self, fn, window: int, overlap: int, skip_before: int = 0, on_window=None):
        if window < 1 or not 0 <= overlap < window:
            raise ValueError(f"need window >= 1 and 0 <= overlap < window, got {window}, {overlap}")
        self.fn, self.window, self.overlap, self.step = fn, window, overlap, window - overlap
        self.skip_before, self.on_window = skip_before, on_window
        self.inputs: dict[int, torch.Tensor] = {}  # position -> frame, while a window may still read it
        self.sums: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # position -> (running mean, weight)
        self.n = 0  # frames pushed
        self.next_start = 0  # start of the next window that is not the last
        self.emitted = 0  # outputs returned
        self.emitted_inputs: list[torch.Tensor] = []  # the inputs of the outputs the last push/close returned
        self.closed = False

    def push(self, frame: torch.Tensor) -> list[torch.Tensor | None]:
        """Add the next frame; returns the outputs that are now final, in order."""
        if self.closed:
            raise RuntimeError("push() after close()")
        self.inputs[self.n] = frame
        self.n += 1
        while self.next_start + self.window < self.n:  # frame next_start + window exists: not the last window
            self._run(self.next_start, self.next_start + self.window, total=None)
            self.next_start += self.step
        # later windows start at next_start or later, the last one at T - window >= n - window
        return self._emit(min(self.next_start, self.n - self.window))

    def close(self) -> list[torch.Tensor | None]:
        """End of the stream: runs the last window; returns the remaining outputs, in order."""
        if self.closed:
            self.emitted_inputs = []
            return []
        self.closed = True
        T = self.n
        if T:
            self._run(max(0, T - self.window), T, total=T)
        return self._emit(T)

    def _run(self, t0: int, t1: int, total: int | None) -> None:
        if t1 <= self.skip_before:  # no output wanted from any of its frames
            return
        if self.on_window is not None:
            self.on_window(t0, t1)
        out = self.fn(torch.stack([self.inputs[t] for t in range(t0, t1)]))
        # a window that is not the last ends before the stream does: it hands off (end < total)
        w = handoff(t1 - t0, t0, t1, total if total is not None else t1 + 1, self.overlap)
        for k, t in enumerate(range(t0, t1)):
            wk = w[k]
            if t not in self.sums:  # the first window: the mean is the block (lerp from 0 with weight 1), copied
                self.sums[t] = (out[k].to(torch.float32, copy=True), wk)  # (a view would keep all of `out` alive)
                continue
            block = out[k].float()
            mean, weight = self.sums[t]
            weight = weight + wk
            self.sums[t] = (torch.lerp(mean, block, wk / weight), weight)  # the running mean of Accumulator.add

    def _emit(self, final: int) -> list[torch.Tensor | None]:
        outs, self.emitted_inputs = [], []
        while self.emitted < final:
            t = self.emitted
            entry = self.sums.pop(t, None)
            outs.append(entry[0] if entry is not None and t >= self.skip_before else None)
            self.emitted_inputs.append(self.inputs[t])  # (still held: inputs go only once their outputs are out)
            self.emitted += 1
        keep = min(self.next_start, max(0, self.n - self.window))  # the first frame a window may still read
        for t in [t for t in self.inputs if t < keep]:
            del self.inputs[t]
        return outs
