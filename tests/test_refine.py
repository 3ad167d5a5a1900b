"""Guided refinement (models/refine.py): off means off, untouched where nothing was removed, less residual
noise on flat areas without blunting edges, and wired into the Restorer, its stream and its options."""

import pytest
import torch
import torch.nn.functional as F

from vidrestore import Restorer
from vidrestore.errors import ConfigError
from vidrestore.models.refine import (DETAIL_SIGMA, _in_tiles, _refine_frame, box_mean, detail_fade, guided_blur_rgb,
                                      guided_refine, reach, removed_sigma)

from tests.test_models import activate
from tests.test_restorer import make_restorer, run_stream, textured


def psnr(a, b):
    return float(-10 * torch.log10((a - b).pow(2).mean()))


def ramp_with_edge(T=2, H=64, W=64):
    """(T,3,H,W): a gentle horizontal ramp with a vertical step edge of 0.4 in the middle."""
    x = torch.linspace(0.2, 0.4, W).view(1, 1, 1, W).expand(T, 3, H, W).clone()
    x[..., W // 2:] += 0.4
    return x


def noisy_case(sigma=25 / 255, left=0.15, seed=0):
    """clean, lq = clean + noise, out = clean + `left` of that noise (what a denoiser that left some behind gives)."""
    clean = ramp_with_edge()
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(seed)) * sigma
    return clean, clean + noise, clean + left * noise


def test_removed_sigma_estimates_the_noise_level():
    clean, lq, _ = noisy_case()
    s = removed_sigma(lq, clean)
    assert s.shape == (2,) and torch.allclose(s, torch.full((2,), 25 / 255), rtol=0.05)


def test_strength_zero_is_the_identity():
    _, lq, out = noisy_case()
    assert guided_refine(out, lq, 0.0) is out


def test_frames_the_network_left_alone_pass_through():
    clean, lq, _ = noisy_case()
    assert torch.equal(guided_refine(lq, lq, 0.5), lq)  # nothing removed: a clean or only compressed frame
    tiny = lq + 0.2 / 255
    assert torch.equal(guided_refine(tiny, lq, 0.5), tiny)


def test_residual_noise_drops_and_the_edge_stays():
    clean, lq, out = noisy_case()
    ref = guided_refine(out, lq, 0.2)
    assert ref.shape == out.shape
    assert psnr(ref, clean) > psnr(out, clean) + 3.0  # flat areas: most of the left-over noise goes
    W = clean.shape[-1]
    step = (ref[..., W // 2 + 1:W // 2 + 4].mean() - ref[..., W // 2 - 4:W // 2 - 1].mean()).item()
    assert step > 0.38  # the 0.4 step keeps its height: edge-aware, not a blur
    assert psnr(guided_refine(out, lq, 5.0), clean) < psnr(ref, clean)  # too strong smooths the ramp away: it can lose


def test_the_detail_pass_takes_back_contrast_the_network_smoothed_away():
    g = torch.Generator().manual_seed(1)
    clean = F.interpolate(torch.rand(2, 3, 12, 12, generator=g), size=(96, 96), mode="bilinear", align_corners=False)
    lq = clean + torch.randn(clean.shape, generator=g) * DETAIL_SIGMA
    out = 0.5 + 0.7 * (clean - 0.5)  # a denoiser that lost 30 % of the contrast (and removed all the noise)
    plain = guided_refine(out, lq, 0.25)
    assert torch.equal(guided_refine(out, lq, 0.25, detail=0.0), plain)  # off by default
    back = guided_refine(out, lq, 0.25, detail=1.0)
    assert psnr(back, clean) > psnr(plain, clean) + 2.0
    assert psnr(back, clean) > psnr(lq, clean) + 3.0  # the degraded frame's noise does not come back with it
    assert torch.equal(guided_refine(lq, lq, 0.25, detail=1.0), lq)  # nothing removed: untouched, detail pass too


def test_the_detail_pass_fades_where_little_or_much_noise_was_removed():
    assert detail_fade(DETAIL_SIGMA) == 1.0
    assert detail_fade(DETAIL_SIGMA / 4) == pytest.approx(0.25) and detail_fade(DETAIL_SIGMA * 2) == pytest.approx(0.25)
    assert max(detail_fade(DETAIL_SIGMA * f) for f in (0.5, 0.9, 1.1, 1.5, 3)) < 1.0


@pytest.mark.parametrize("k", [3, 5, 11])
def test_the_colour_guided_filter_is_kornias(k):
    import kornia

    g = torch.Generator().manual_seed(k)
    guide = F.avg_pool2d(torch.rand(2, 3, 40, 52, generator=g), 3, 1, 1)  # smooth: strongly correlated channels
    src = (guide + 0.1 * torch.randn(guide.shape, generator=g)).clamp(0, 1)
    for eps in (1e-5, 1e-3, 1e-1):
        for p in (guide, src):
            want = kornia.filters.guided_blur(guide, p, (k, k), eps)
            torch.testing.assert_close(guided_blur_rgb(guide, p, k, eps), want, atol=2e-4, rtol=0)
    torch.testing.assert_close(box_mean(src, k), kornia.filters.box_blur(src, (k, k), "reflect"), atol=1e-6, rtol=0)
    # near-grey boxes at the smallest eps: Sigma_I is near rank 1 (a closed-form adjugate blew up to +-70 there)
    grey = guide.mean(1, keepdim=True) + 1e-3 * torch.rand(guide.shape, generator=g)
    want = kornia.filters.guided_blur(grey, src, (k, k), 1e-6)
    torch.testing.assert_close(guided_blur_rgb(grey, src, k, 1e-6), want, atol=2e-3, rtol=0)


def test_frames_of_any_size_pass():
    """Reflection cannot fill a box wider than the frame: the box shrinks there (a 5x5 frame takes 9x9 boxes)."""
    import kornia

    x = torch.rand(1, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(box_mean(x, 11), kornia.filters.box_blur(x, (9, 9), "reflect"))
    for H, W in ((1, 1), (2, 3), (5, 5), (4, 40)):
        clean = torch.full((2, 3, H, W), 0.5)
        lq = clean + torch.randn(clean.shape, generator=torch.Generator().manual_seed(H * W)) * 0.1
        out = guided_refine(clean + 0.3 * (lq - clean), lq, 0.3, kernel=5, detail=0.5, detail_kernel=11)
        assert out.shape == clean.shape and torch.isfinite(out).all()
        assert torch.equal(box_mean(clean, 11), clean)  # a constant stays itself at any size


def test_large_frames_run_in_tiles_that_add_up_to_the_whole_frame():
    g = torch.Generator().manual_seed(2)
    clean = F.interpolate(torch.rand(2, 3, 7, 8, generator=g), size=(53, 70), mode="bilinear", align_corners=False)
    lq = clean + torch.randn(clean.shape, generator=g) * 0.08
    out = clean + 0.2 * (lq - clean)
    whole = guided_refine(out, lq, 0.3, kernel=5, detail=0.45, detail_kernel=11, tile=10_000)
    for tile in (16, 25):  # tiles that do not divide the frame, margins cut inside it
        assert torch.equal(guided_refine(out, lq, 0.3, kernel=5, detail=0.45, detail_kernel=11, tile=tile), whole)
    assert reach(5, 2, 11) == 18 and reach(5, 2) == 8
    fn = lambda o, x: _refine_frame(o, x, 1e-3, 5, 2, 0.45, 11)  # noqa: E731
    short = _in_tiles(fn, out[:1], lq[:1], 16, 3)  # a margin well short of the reach shows at the seams
    assert not torch.allclose(short, fn(out[:1], lq[:1]), atol=1e-4)


def test_gradients_flow_through_it():
    _, lq, out = noisy_case()
    out = out.clone().requires_grad_(True)
    guided_refine(out, lq, 0.2, detail=0.5).pow(2).sum().backward()
    assert torch.isfinite(out.grad).all() and out.grad.abs().sum() > 0


def test_restorer_applies_it_per_frame_and_streams_bit_exactly():
    x = textured(7, 40, 50)
    x = (x + torch.randn(x.shape, generator=torch.Generator().manual_seed(3)) * 0.1).clamp(0, 1)
    plain = make_restorer(window=3, window_overlap=1).restore(x)
    r = make_restorer(window=3, window_overlap=1, refine=0.3)
    whole = r.restore(x)
    assert not torch.equal(whole, plain) and whole.min() >= 0 and whole.max() <= 1
    torch.testing.assert_close(whole, guided_refine(plain, x, 0.3).clamp(0, 1))
    outs, _ = run_stream(r.stream(skip_before=2), x)
    assert outs[:2] == [None, None] and torch.equal(torch.stack(outs[2:]), whole[2:])
    torch.manual_seed(0)  # the same chain as make_restorer's, with the file's detail pass on
    d = Restorer.from_config("tiny", ["inference.refine_detail=0.5", "inference.refine_detail_kernel=7"], device="cpu",
                             steps=2, window=3, window_overlap=1, refine=0.3, precision="fp32")
    activate(d.chain)
    torch.testing.assert_close(d.restore(x), guided_refine(plain, x, 0.3, detail=0.5, detail_kernel=7).clamp(0, 1))
    tiny = (0.5 + 0.1 * torch.randn(3, 3, 3, 5, generator=torch.Generator().manual_seed(4))).clamp(0, 1)
    assert d.restore(tiny).shape == tiny.shape  # frames narrower than the boxes (which once raised in the padding)


def test_bad_refine_options():
    with pytest.raises(ConfigError, match="refine"):
        Restorer.from_config("tiny", device="cpu", refine=-0.1)
    with pytest.raises(ConfigError, match="refine_kernel"):
        Restorer.from_config("tiny", ["inference.refine_kernel=4"], device="cpu")
    with pytest.raises(ConfigError, match="refine_passes"):
        Restorer.from_config("tiny", ["inference.refine_passes=3"], device="cpu")
    with pytest.raises(ConfigError, match="refine_detail must"):
        Restorer.from_config("tiny", ["inference.refine_detail=1.5"], device="cpu")
    with pytest.raises(ConfigError, match="refine_detail_kernel"):
        Restorer.from_config("tiny", ["inference.refine_detail_kernel=8"], device="cpu")
