"""Metric functions on cases with known answers."""

import math

import pytest
import torch
import torch.nn.functional as F

from vidrestore.evaluation import metrics as M


def texture(h=40, w=56, seed=0):
    """A smooth random RGB texture (3,h,w) in [0.1, 0.9]."""
    g = torch.Generator().manual_seed(seed)
    x = F.interpolate(torch.rand(1, 3, h // 4, w // 4, generator=g), size=(h, w), mode="bicubic", align_corners=False)[0]
    x = (x - x.min()) / (x.max() - x.min())
    return 0.1 + 0.8 * x


def translated_clip(frames=4, dy=1, dx=2, h=40, w=56):
    """Frame t is frame 0 shifted by t*(dy, dx) pixels (wrapping)."""
    base = texture(h, w)
    return torch.stack([torch.roll(base, (t * dy, t * dx), (1, 2)) for t in range(frames)])


def exact_flows(clip, dy, dx):
    """ClipFlows of a translated clip, exactly: frame t pixel p is frame t-1 pixel p - (dx, dy)."""
    t, _, h, w = clip.shape
    bwd = torch.empty(t - 1, 2, h, w)
    bwd[:, 0], bwd[:, 1] = -dx, -dy
    fwd = -bwd
    return M.ClipFlows(backward=bwd, forward=fwd, mask=M.occlusion_mask(bwd, fwd))


def test_identical_clips_give_infinite_psnr_and_unit_ssim():
    clip = translated_clip()
    assert torch.isinf(M.psnr(clip, clip)).all()
    assert torch.allclose(M.ssim(clip, clip), torch.ones(4), atol=1e-5)


def test_constant_offset_gives_known_psnr():
    clip = translated_clip()
    # MSE = 0.1^2 -> PSNR = 10 log10(1 / 0.01) = 20 dB
    assert torch.allclose(M.psnr(clip + 0.1, clip), torch.full((4,), 20.0), atol=1e-3)
    assert (M.ssim(clip + 0.1, clip) < 1).all()


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError):
        M.psnr(torch.zeros(2, 3, 8, 8), torch.zeros(3, 3, 8, 8))


def test_warping_error_is_zero_for_translation_with_exact_flow():
    clip = translated_clip(dy=1, dx=2)
    flows = exact_flows(clip, 1, 2)
    assert flows.mask.float().mean() > 0.8  # only the wrapped-in border is masked
    assert M.warping_error(clip, flows).max() < 1e-10
    flicker = clip * torch.tensor([1.0, 0.8, 1.0, 0.8]).view(4, 1, 1, 1)
    assert M.warping_error(flicker, flows).min() > 1e-3


def test_occlusion_mask_rejects_inconsistent_flow():
    fwd = torch.zeros(1, 2, 16, 16)
    bwd = torch.zeros(1, 2, 16, 16)
    bwd[..., 4:8, 4:8] = 5.0  # the way back does not return here
    mask = M.occlusion_mask(fwd, bwd)
    assert not mask[..., 4:8, 4:8].any() and mask[..., 10:, 10:].all()


@pytest.mark.parametrize("backend", ["torch", "opencv"])
def test_estimated_flow_recovers_translation(backend):
    if backend == "opencv":
        pytest.importorskip("cv2")
    clip = translated_clip(frames=2, dy=1, dx=2)
    flow = M.optical_flow(clip[1], clip[0], backend)  # frame 1 -> frame 0: (-2, -1)
    centre = flow[:, 10:30, 14:42].mean(dim=(1, 2))
    assert torch.allclose(centre, torch.tensor([-2.0, -1.0]), atol=0.25), centre


def test_estimated_flows_give_small_warping_error_on_clean_and_large_on_noise():
    clip = translated_clip()
    flows = M.clip_flows(clip)
    clean = M.warping_error(clip, flows).mean()
    noisy = (clip + 0.1 * torch.randn(clip.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    assert clean < 1e-3 < M.warping_error(noisy, flows).mean()


def test_frame_difference_error():
    clip = translated_clip()
    assert M.frame_difference_error(clip + 0.05, clip).abs().max() < 1e-6  # same motion, offset colours
    flicker = clip + torch.tensor([0.0, 0.05, 0.0, 0.05]).view(4, 1, 1, 1)
    assert torch.allclose(M.frame_difference_error(flicker, clip), torch.full((3,), 0.05), atol=1e-5)


def test_tof_is_zero_for_the_clean_clip():
    clip = translated_clip()
    flows = M.clip_flows(clip)
    assert M.tof(clip, flows).max() < 1e-5
    assert math.isfinite(float(M.tof(clip.flip(0), flows).mean()))
