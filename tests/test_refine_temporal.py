"""The temporal mean after the refinement (models/refine_temporal.py): off means off, frames the chain barely
changed are left alone, leftover noise that differs from frame to frame averages out on moving content, and the
Restorer runs it over a stream with a delay, bit for bit as over the whole clip, whatever is skipped."""

import pytest
import torch

from vidrestore import Restorer
from vidrestore.errors import ConfigError
from vidrestore.models.align import warp
from vidrestore.models.refine_temporal import MIN_SIGMA, TemporalMeanStream, settle, settle_clip

from tests.test_restorer import make_restorer, run_stream, textured


def psnr(a, b):
    return float(-10 * torch.log10((a - b).pow(2).mean()))


def moving_case(T=7, H=48, W=64, left=4 / 255, sigma=25 / 255, seed=0):
    """clean: a textured frame moving 1.5 px right and 1 px down per frame; lq = clean + sigma noise;
    out = clean + `left` noise, independent per frame (what a per-frame denoiser leaves)."""
    g = torch.Generator().manual_seed(seed)
    base = textured(1, H + 24, W + 24)
    flow = torch.zeros(1, 2, H + 24, W + 24)
    clean = []
    for t in range(T):
        flow[:, 0], flow[:, 1] = -1.5 * t, -1.0 * t
        clean.append(warp(base, flow)[0, :, 12:12 + H, 12:12 + W])
    clean = torch.stack(clean)
    lq = (clean + sigma * torch.randn(clean.shape, generator=g)).clamp(0, 1)
    out = (clean + left * torch.randn(clean.shape, generator=g)).clamp(0, 1)
    return clean, lq, out


def test_it_averages_out_noise_left_on_moving_content():
    clean, lq, out = moving_case()
    settled = settle_clip(out, lq, 0.2, 2)
    assert settled.shape == out.shape and settled.min() >= 0 and settled.max() <= 1
    gain = psnr(settled[2:-2], clean[2:-2]) - psnr(out[2:-2], clean[2:-2])
    assert gain > 2.0, gain  # 4/255 of fresh noise per frame, 5 frames: 7 dB at most (measured 4.2)
    assert psnr(settle_clip(out, lq, 0.2, 3), clean) > psnr(settled, clean)  # more neighbours, more averaged
    half = settle_clip(out, lq, 0.2, 2, match_scale=2)  # searched at half size, then the sub-pixel step at full size
    assert not torch.equal(half, settled) and psnr(half[2:-2], clean[2:-2]) - psnr(out[2:-2], clean[2:-2]) > 2.0


def test_off_or_nothing_removed_leaves_frames_alone():
    clean, lq, out = moving_case()
    assert torch.equal(settle_clip(out, lq, 0.0, 2), out)
    near = (out + 0.5 * MIN_SIGMA * torch.randn(out.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    assert torch.equal(settle_clip(out, near, 0.3, 2), out)  # the chain removed < MIN_SIGMA: a clean frame
    assert torch.equal(settle(out[:1], [0], lq[:1], 0.3, 2), out[:1])  # a one-frame shot


def test_a_neighbour_that_disagrees_drops_out():
    clean, lq, out = moving_case(T=3)
    cut = out.clone()
    cut[2] = 1 - cut[2]  # frame 2 from another scene (or wholly occluded)
    a, good = settle(cut, [1], lq[1:2], 0.2, 1)[0], settle(out, [1], lq[1:2], 0.2, 1)[0]
    assert psnr(good, clean[1]) > psnr(a, clean[1]) > psnr(out[1], clean[1])  # frame 0 still helps
    assert (a - out[1]).abs().max() < 0.1  # the inverted frame (0.3-1 away) pulls no pixel towards it


def test_no_neighbour_is_made_up_at_a_shots_ends():
    clean, lq, out = moving_case(T=3)
    end = settle(out, [0], lq[:1], 0.2, 2)[0]  # frame 0 has neighbours 1 and 2 only, whatever the radius
    assert torch.equal(end, settle(out, [0], lq[:1], 0.2, 3)[0]) and not torch.equal(end, settle(out, [0], lq[:1], 0.2, 1)[0])
    assert psnr(end, clean[0]) > psnr(out[0], clean[0]) + 1  # not diluted by copies of frame 0 itself


@pytest.mark.parametrize("radius", [1, 2, 3])
def test_the_stream_gives_the_whole_clip_frames_with_a_delay(radius):
    clean, lq, out = moving_case(T=6)
    whole = settle_clip(out, lq, 0.2, radius)
    for t in range(6):  # frame t is settled from frames t-r..t+r of the clip, whichever frames share the call
        lo, hi = max(0, t - radius), min(5, t + radius)
        assert torch.equal(whole[t], settle(out[lo:hi + 1], [t - lo], lq[t:t + 1], 0.2, radius)[0])
    assert torch.equal(settle(out, [1, 4, 2], lq[[1, 4, 2]], 0.2, radius), whole[[1, 4, 2]])
    for batch in (1, 2, 8):
        s = TemporalMeanStream(0.2, radius, skip_before=2, batch=batch)
        got = []
        for k in range(6):
            got += s.push(out[k] if k >= 2 - radius else None, lq[k])
            final = max(0, k + 1 - radius)  # frame t is final once frame t + r is in; they come out a batch at a time
            assert len(got) == final // batch * batch
            assert len(s.frames) <= radius + batch + radius  # memory: the batch and its neighbours
        got += s.close()
        assert got[:2] == [None, None] and torch.equal(torch.stack(got[2:]), whole[2:])


def test_restorer_runs_it_last_and_streams_bit_exactly():
    x = textured(9, 40, 50)
    x = (x + torch.randn(x.shape, generator=torch.Generator().manual_seed(3)) * 0.1).clamp(0, 1)
    refined = make_restorer(window=3, window_overlap=1, refine=0.3)
    r = make_restorer(window=3, window_overlap=1, refine=0.3, temporal_mean=0.25)
    assert r.context == refined.context + 2 and r.mean_radius == 2
    base, whole = refined.restore(x), r.restore(x)
    assert torch.equal(whole, settle_clip(base, x, 0.25, 2)) and not torch.equal(whole, base)
    for skip in (1, 2, 5, 9):
        outs, _ = run_stream(r.stream(skip_before=skip), x)
        assert [o is None for o in outs] == [t < skip for t in range(9)]
        assert all(torch.equal(outs[t], whole[t]) for t in range(skip, 9))
    half = make_restorer(["inference.temporal_mean_match_scale=2"], window=3, window_overlap=1, refine=0.3,
                         temporal_mean=0.25)  # the file's match scale reaches the stream
    for shape in ((1, 3, 1, 1), (2, 3, 5, 7), (4, 3, 3, 70)):  # one frame, tiny and odd sizes
        y = torch.rand(shape, generator=torch.Generator().manual_seed(5))
        assert r.restore(y).shape == shape and half.restore(y).shape == shape
    assert torch.equal(half.restore(x), settle_clip(base, x, 0.25, 2, match_scale=2))
    outs, _ = run_stream(half.stream(skip_before=4), x)
    assert all(torch.equal(outs[t], settle_clip(base, x, 0.25, 2, match_scale=2)[t]) for t in range(4, 9))


def test_bad_temporal_mean_options():
    with pytest.raises(ConfigError, match="temporal mean"):
        Restorer.from_config("tiny", device="cpu", temporal_mean=-0.1)
    with pytest.raises(ConfigError, match="temporal mean"):
        Restorer.from_config("tiny", device="cpu", temporal_mean=1.5)
    with pytest.raises(ConfigError, match="temporal_mean_radius"):
        Restorer.from_config("tiny", ["inference.temporal_mean_radius=4"], device="cpu", temporal_mean=0.2)
    with pytest.raises(ConfigError, match="temporal_mean_radius"):
        Restorer.from_config("tiny", ["inference.temporal_mean_radius=0"], device="cpu")
    with pytest.raises(ConfigError, match="temporal_mean_match_scale must be one of 1, 2, 4"):
        Restorer.from_config("tiny", ["inference.temporal_mean_match_scale=3"], device="cpu")
