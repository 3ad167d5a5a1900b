"""Temporal mean of the restored frames: the last stage, after the guided refinement (models/refine.py).

What the network leaves of the noise differs from frame to frame, the picture does not; V-BM3D's edge over BM3D
comes from averaging what was matched across frames. So each finished frame is averaged with its neighbours
t-r..t+r warped onto it, each neighbour weighted per pixel by how well it agrees (align.temporal_mean, a non-local
mean over time: where the warp fails, at occlusions or new content, the neighbour drops out):

    out (n,3,H,W): frames t-r..t+r of one shot (fewer at its ends), lq_t (3,H,W): the degraded frame t
      s     = 1.4826 · median |lq_t - out_t|              the noise the chain removed from frame t (refine.removed_sigma)
      flows = block matching of out_t against each neighbour (align.neighbour_flows, on the *restored* frames:
              matched on the degraded ones, the noise misleads the search and the gain halves; with
              match_scale 2 the search ends at half size and full size takes only the sub-pixel step)
      out_t = temporal_mean(out_t, warped neighbours, h² = (alpha · s)²)

h follows the removed noise, so a frame the chain barely changed (clean, or only compressed: s < MIN_SIGMA) is
left as it is, and the matches are not even computed. `alpha` and `r` are tuned per weights file on training
photos (training/tune_refine.py), match_scale as well. `TemporalMeanStream` runs the stage over a stream of frames with a delay of r
frames, the same frames as on the whole shot at once.
"""

from __future__ import annotations

import torch

from vidrestore.models.align import neighbour_flows, neighbour_offsets, temporal_mean, warp_neighbours
from vidrestore.models.refine import removed_sigma

MIN_SIGMA = 4 / 255  # below this much removed noise a frame is left alone (H.264 CRF 37: s ~ 1.7-3.5/255, gain +0.001 dB)
MAX_RADIUS = 3  # neighbours on each side at most


# frames settled per call: at most 8, at most ~BATCH_PIXELS pixels. On small frames block matching is bound by per-call
# overheads (256x192: ~1.5x faster per pair on 8 frames' pairs than on one's); on large ones the 2r warped neighbours
# of each frame dominate memory (1080p: ~150 MB a frame), so those go one at a time
BATCH, BATCH_PIXELS = 8, 1_000_000


def settle(out: torch.Tensor, ts: list[int], lq: torch.Tensor, alpha: float, radius: int,
           match_scale: int = 1) -> torch.Tensor:
    """Frames ts of the restored frames out (n,3,H,W) (consecutive frames of one shot, holding frames t-radius..
    t+radius of each t in ts where the shot has them) averaged with their neighbours warped onto them, for their
    degraded frames lq (len(ts),3,H,W) -> (len(ts),3,H,W), on out's device. Near a shot's ends there are fewer
    neighbours (none is made up: a replicated end frame would count twice, and on 10-frame clips that cost 0.1 dB).
    Each frame's result depends on its own neighbours only, whichever frames share the call. match_scale: the flows'
    (align.estimate_flow)."""
    x = out[ts]  # (a copy)
    s = removed_sigma(lq.to(x.device), x)  # (len(ts),)
    present = torch.tensor([[0 <= t + d < len(out) for d in neighbour_offsets(radius)] for t in ts], device=x.device)  # (len(ts),2r)
    work = [k for k in range(len(ts)) if alpha > 0 and s[k] >= MIN_SIGMA and present[k].any()]
    if not work:
        return x
    frames = [ts[k] for k in work]
    flows = neighbour_flows(out, len(out), radius, frames=frames, match_scale=match_scale)  # (w,2r,2,H,W); past the ends: repeats, computed once
    nb = warp_neighbours(out, len(out), flows, frames=frames)  # (w,2r*3,H,W)
    h2 = (alpha * s[work]).pow(2).view(-1, 1, 1, 1)
    x[work] = temporal_mean(x[work], nb, h2, present=present[work]).clamp(0, 1)
    return x


class TemporalMeanStream:
    """`settle` over a stream: push (in order) the restored frames with their degraded frames; get back the settled
    ones that are final (frame t once t+r has arrived, in groups of `batch`), close() for the rest. Positions below
    `skip_before` need no output (None comes back); their restored frames may be None, except the r frames just
    before `skip_before`."""

    def __init__(self, alpha: float, radius: int, device: torch.device | str = "cpu", skip_before: int = 0,
                 batch: int | None = None, match_scale: int = 1):
        self.alpha, self.r, self.device, self.skip_before = alpha, radius, torch.device(device), skip_before
        self.match_scale = match_scale
        self.batch = batch  # None: from the frame size (BATCH, BATCH_PIXELS), set at the first push
        self.frames: dict[int, tuple[torch.Tensor | None, torch.Tensor]] = {}  # position -> (restored, degraded)
        self.n = 0  # frames pushed
        self.emitted = 0

    def push(self, out: torch.Tensor | None, lq: torch.Tensor) -> list[torch.Tensor | None]:
        if self.batch is None:
            self.batch = max(1, min(BATCH, BATCH_PIXELS // (lq.shape[-2] * lq.shape[-1])))
        self.frames[self.n] = (out, lq)
        self.n += 1
        return self._emit(self.n - self.r, last=None)

    def close(self) -> list[torch.Tensor | None]:
        return self._emit(self.n, last=self.n - 1)

    def _emit(self, final: int, last: int | None) -> list[torch.Tensor | None]:
        """Settle frames emitted..final-1 (all final), a batch at a time (at close: the rest too); last = the
        shot's last frame once known."""
        done = []
        while self.emitted < final and (final - self.emitted >= self.batch or last is not None):
            group = range(self.emitted, min(final, self.emitted + self.batch))
            wanted = [t for t in group if t >= self.skip_before]
            outs: dict[int, torch.Tensor] = {}
            if wanted:
                lo, hi = max(0, wanted[0] - self.r), wanted[-1] + self.r if last is None else min(last, wanted[-1] + self.r)
                window = torch.stack([self.frames[k][0] for k in range(lo, hi + 1)]).to(self.device)
                lq = torch.stack([self.frames[t][1] for t in wanted])
                outs = dict(zip(wanted, settle(window, [t - lo for t in wanted], lq, self.alpha, self.r,
                                                   self.match_scale).cpu()))
            done += [outs.get(t) for t in group]
            self.emitted = group.stop
            for t in [t for t in self.frames if t < self.emitted - self.r]:  # no later frame reads them
                del self.frames[t]
        return done


def settle_clip(out: torch.Tensor, lq: torch.Tensor, alpha: float, radius: int, match_scale: int = 1) -> torch.Tensor:
    """The stage on a whole shot at once: restored out, degraded lq (T,3,H,W) -> (T,3,H,W) (what the Restorer's
    stream gives; for tuning and tests)."""
    stream = TemporalMeanStream(alpha, radius, out.device, match_scale=match_scale)
    return torch.stack([o for x, y in zip(out, lq) for o in stream.push(x, y)] + stream.close())
