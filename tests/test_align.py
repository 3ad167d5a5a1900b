"""Block-matching alignment (vidrestore/models/align.py): it finds known motion and warps onto frame t."""

import pytest
import torch
import torch.nn.functional as F

from vidrestore.models.align import (aligned_neighbours, box_mean_inside, box_sum, clip_rows, estimate_flow, median3, neighbour_flows, warp,
                                     warp_neighbours)
from vidrestore.config import load_model_config
from vidrestore.models.decoder import TemporalPixelDecoder


def texture(h=96, w=128, seed=0) -> torch.Tensor:
    """A smooth random texture (1,3,h,w) in [0,1]: structure at several scales, no flat areas."""
    g = torch.Generator().manual_seed(seed)
    img = sum(F.interpolate(torch.rand(1, 3, h // s + 1, w // s + 1, generator=g), size=(h, w), mode="bicubic",
                            align_corners=False) for s in (2, 4, 8))
    return (img / 3).clamp(0, 1)


@pytest.mark.parametrize("h, w", [(48, 64), (37, 23), (1, 5)])
def test_warp_by_whole_pixels_is_a_shift(h, w):
    """Integer flows sample exact pixels (x before y, non-square frames, one row), edges replicated, dtype kept."""
    x = torch.rand(2, 3, h, w)
    flow = torch.zeros(2, 2, h, w)
    flow[0, 0], flow[1, 1] = 2.0, -1.0  # clip 0 reads 2 px to the right, clip 1 one row up
    out = warp(x, flow)
    right = torch.cat([x[0, :, :, 2:], x[0, :, :, -1:].expand(3, h, min(2, w))], dim=2)[:, :, :w]
    up = torch.cat([x[1, :, :1], x[1, :, :-1]], dim=1)
    assert torch.allclose(out[0], right, atol=1e-5)
    assert torch.allclose(out[1], up, atol=1e-5)
    assert warp(x.bfloat16(), flow).dtype == torch.bfloat16


@pytest.mark.parametrize("k", [1, 3, 5, 9])
@pytest.mark.parametrize("h, w", [(9, 11), (4, 13), (1, 2), (30, 7)])  # windows wider and narrower than the frame
def test_box_sum_is_the_window_sum(k, h, w):
    x = torch.rand(2, 3, h, w)
    expected = F.conv2d(x.view(6, 1, h, w), torch.ones(1, 1, k, k), padding=k // 2).view(2, 3, h, w)
    assert torch.allclose(box_sum(x, k), expected, atol=1e-5)


@pytest.mark.parametrize("k", [1, 3, 5, 9])
@pytest.mark.parametrize("h, w", [(9, 11), (4, 13), (1, 2), (30, 7)])
def test_box_mean_inside_is_avg_pool_without_the_padding(k, h, w):
    x = torch.rand(2, 3, h, w)
    expected = F.avg_pool2d(x, k, 1, k // 2, count_include_pad=False)
    torch.testing.assert_close(box_mean_inside(x, k), expected, atol=1e-6, rtol=0)


def test_median_network_is_the_exact_3x3_median():
    g = torch.Generator().manual_seed(0)
    for f in (torch.randn(2, 2, 7, 9, generator=g), torch.randint(0, 3, (2, 2, 7, 9), generator=g).float()):  # ties too
        windows = F.unfold(F.pad(f, (1, 1, 1, 1), mode="replicate"), 3).view(2, 2, 9, 7, 9)
        assert torch.equal(median3(f), windows.median(dim=2).values)


@pytest.mark.parametrize("match_scale", [1, 2, 4])
@pytest.mark.parametrize("shift", [(3.0, -2.0), (1.5, 0.25), (-13.0, 9.0)])
def test_flow_recovers_a_global_shift_through_noise(shift, match_scale):
    """src(p + flow) = ref(p) for a known shift, including a sub-pixel one and one beyond the finer
    levels' +-1 px reach (found at 1/4 size); also when the search ends at 1/2 or 1/4 size and the finer
    sizes only take the sub-pixel step."""
    big = texture(160, 192)
    flow_true = torch.tensor(shift).view(1, 2, 1, 1).expand(1, 2, 160, 192)
    ref = big
    src = warp(big, -flow_true)  # src(p) = ref(p - shift)  =>  src(p + shift) = ref(p)
    g = torch.Generator().manual_seed(1)
    noise = lambda x: (x + 0.08 * torch.randn(x.shape, generator=g)).clamp(0, 1)  # noqa: E731  (sigma ~ 20/255)
    flow = estimate_flow(noise(ref), noise(src), match_scale=match_scale)
    inner = flow[..., 24:-24, 24:-24]  # away from the edges, where the shifted frame has no content
    err = (inner - torch.tensor(shift).view(1, 2, 1, 1)).abs()
    assert err.median() < 0.3 and (err < 1.0).float().mean() > 0.9


def test_pairs_matched_a_few_at_a_time_give_the_same_flows():
    """`pixels` splits each level into calls of ~that many pixels (cache-sized): the same flows as all pairs at once."""
    g = torch.Generator().manual_seed(3)
    ref = torch.cat([texture(48, 64, i) for i in range(5)])
    src = (ref.roll(2, -1) + 0.05 * torch.randn(ref.shape, generator=g)).clamp(0, 1)
    whole = estimate_flow(ref, src)
    for pixels in (1, 2 * 48 * 64, 3 * 48 * 64):  # one pair per call at every level; two, three at full size
        torch.testing.assert_close(estimate_flow(ref, src, pixels=pixels), whole, atol=1e-5, rtol=0)
    half = estimate_flow(ref, src, match_scale=2)
    assert not torch.equal(half, whole)  # (a different search: it must not fall back to the full one)
    for pixels in (1, 2 * 48 * 64):
        torch.testing.assert_close(estimate_flow(ref, src, pixels=pixels, match_scale=2), half, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="match_scale"):
        estimate_flow(ref, src, match_scale=3)


def test_aligned_neighbours_follow_a_moving_object():
    """A square moving 6 px per frame over a textured still background: warped onto frame t, the
    neighbours match frame t inside the object far better than the raw neighbours, and the still
    background away from it stays in place."""
    bg, obj = texture(64, 64, 0), texture(64, 64, 1)
    frames = []
    for t in range(3):
        f = bg.clone()
        x0 = 14 + 6 * t
        f[..., 20:44, x0:x0 + 24] = obj[..., 20:44, 20:44]
        frames.append(f)
    clip = torch.cat(frames)  # (3,3,64,64); in frame 1 the object covers rows 20:44, columns 20:44
    nb = aligned_neighbours(clip, T=3, r=1)[1].view(2, 3, 64, 64)  # frame 1's t-1, t+1 warped onto it
    raw = torch.stack([clip[0], clip[2]])
    err = lambda x, rows, cols: (x - clip[1])[..., rows, cols].abs().mean()  # noqa: E731
    inside, below = (slice(24, 40), slice(24, 40)), (slice(58, 64), slice(0, 64))
    assert err(nb, *inside) < 0.6 * err(raw, *inside)
    assert err(nb, *below) < 0.005  # raw: 0 (the background does not move)


def test_clip_ends_and_still_frames_have_zero_flow():
    clip = texture(32, 48).expand(4, 3, 32, 48).contiguous()  # a still clip
    flows = neighbour_flows(clip, T=2, r=2)  # two clips of two frames: slots t-2, t-1, t+1, t+2
    assert flows.shape == (4, 4, 2, 32, 48)
    # frame 0's t-2 and t-1 are frame 0 itself (replicated end), and so are frame 1's t+1 and t+2
    assert flows[0::2, :2].abs().max() == 0 and flows[1::2, 2:].abs().max() == 0
    assert flows.abs().max() < 1e-4  # the other frame of the clip: the same picture, matched
    assert torch.allclose(aligned_neighbours(clip, T=2, r=2), clip.repeat(1, 4, 1, 1), atol=1e-4)


def test_flows_are_fp32_under_bf16_autocast():
    """Running sums and sampling coordinates need fp32: under autocast (GPU training, bf16 inference)
    the flows must come out as they do without it."""
    clip = torch.cat([texture(48, 64, 0), warp(texture(48, 64, 0), torch.full((1, 2, 48, 64), 2.5))])
    plain = neighbour_flows(clip, T=2, r=1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        auto = neighbour_flows(clip, T=2, r=1)
        warped = warp(clip, plain[:, 0])
    assert auto.dtype == torch.float32 and torch.equal(auto, plain)
    assert warped.dtype == torch.float32


@pytest.mark.parametrize("r", [1, 2])
def test_flows_and_warps_of_chosen_frames_are_those_of_the_whole_clip(r):
    """`frames=` computes only those frames' flows (the deblock head's training reads frame t of crops of frames
    t-r..t+r, r = decoder.deblock_frames)."""
    g = torch.Generator().manual_seed(0)
    T = 2 * r + 1
    base = torch.rand(2, 3, 40, 40, generator=g)
    x = torch.stack([torch.roll(base, (i, 2 * i), dims=(-2, -1)) for i in range(T)], dim=1).flatten(0, 1)  # 2 clips x T
    rows = clip_rows(2, T, [r])
    assert rows == [r, T + r]
    full, some = neighbour_flows(x, T, r, 2), neighbour_flows(x, T, r, 2, frames=[r])
    assert some.shape == (2, 2 * r, 2, 40, 40) and torch.equal(some, full[rows])
    assert torch.equal(warp_neighbours(x, T, some, [r]), warp_neighbours(x, T, full)[rows])
    dec = TemporalPixelDecoder(load_model_config("tiny").vae, load_model_config("tiny", [
        "decoder.deblock_head=true", "decoder.deblock_head_channels=8", "decoder.deblock_head_blocks=1", f"decoder.deblock_frames={r}"]).decoder)
    for flows, part in ((full, some), (None, None)):
        inp = dec.deblock_input(x, T, flows)
        assert inp.shape == (2 * T, 3 + 6 * r, 40, 40) and torch.equal(dec.deblock_input(x, T, part, [r]), inp[rows])
        assert torch.equal(inp[:, :3], x)  # frame t first, then its neighbours in order t-r .. t-1, t+1 .. t+r
        if flows is None:
            assert torch.equal(inp[T + r, 3:], torch.cat([x[T + r + d] for d in range(-r, r + 1) if d]))


def test_the_decoder_matches_at_its_configured_scale(monkeypatch):
    """decoder.align_match_scale reaches the decoder's block matching; a scale block matching has not is an error."""
    import vidrestore.models.decoder as decoder_module

    seen = []
    real = decoder_module.neighbour_flows
    monkeypatch.setattr(decoder_module, "neighbour_flows", lambda *a, **k: seen.append(k.get("match_scale")) or real(*a, **k))
    for m in (1, 2):
        cfg = load_model_config("tiny", ["decoder.align=true", f"decoder.align_match_scale={m}"])
        dec = TemporalPixelDecoder(cfg.vae, cfg.decoder).eval()
        with torch.no_grad():
            dec(torch.randn(3, 64, 1, 1), torch.rand(3, 3, 32, 32), T=3)
    assert seen == [1, 2]
    cfg = load_model_config("tiny", ["decoder.align=true", "decoder.align_match_scale=3"])
    with pytest.raises(ValueError, match="align_match_scale"):
        TemporalPixelDecoder(cfg.vae, cfg.decoder)
