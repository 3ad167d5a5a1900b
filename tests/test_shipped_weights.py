"""The weights that ship as `default` load, restore, and clearly improve a noisy clip."""

import kornia
import pytest
import torch
import torch.nn.functional as F

from vidrestore import Restorer
from vidrestore.weights_io import BUILTIN_DIR

pytestmark = pytest.mark.skipif(not (BUILTIN_DIR / "default.safetensors").is_file(), reason="no shipped weights")


def textured_clip(frames=5, h=96, w=128, seed=0):
    """Smooth random texture panning one pixel per frame: (T,3,h,w) in [0,1]."""
    g = torch.Generator().manual_seed(seed)
    base = F.interpolate(torch.rand(1, 3, h // 4, w // 4 + frames, generator=g), scale_factor=4, mode="bicubic",
                         align_corners=False).clamp(0, 1)[0]
    return torch.stack([base[:, :, i:i + w] for i in range(frames)])


@pytest.fixture(scope="module")
def restorer():
    return Restorer.from_pretrained("default", device="cpu")


def test_metadata_says_trained_through_every_stage(restorer):
    assert restorer.metadata["trained"] == "true"
    assert set(restorer.metadata["stages"].split(",")) >= {"vae1", "vae2", "dit", "decoder"}


def test_denoises_sigma25(restorer):
    gt = textured_clip()
    g = torch.Generator().manual_seed(1)
    lq = (gt + torch.randn(gt.shape, generator=g) * 25 / 255).clamp(0, 1)
    out = restorer.restore(lq)
    gain = kornia.metrics.psnr(out, gt, 1.0) - kornia.metrics.psnr(lq, gt, 1.0)
    print(f"\nshipped weights, sigma=25 textured clip: PSNR gain {gain:.2f} dB")
    assert gain > 1.5


def test_deterministic(restorer):
    lq = textured_clip(frames=2, seed=3)
    assert torch.equal(restorer.restore(lq), restorer.restore(lq))
