"""Tune the guided refinement (vidrestore/models/refine.py) of a weights file on training photos, never on dev data.

    python training/tune_refine.py --model default                      # prints the grid, best last
    python training/tune_refine.py --model runs/x.safetensors --write   # also stores the best in the file

Each of `--photos` CBSD432 photos (a fixed shuffle) becomes a 10-frame `--size` moving clip, as the evaluation
harness builds its Kodak clips; each is degraded with AWGN at every `--sigmas` level and restored once with the
refinement off. Every (kernel, passes, strength) of the grid is then applied to those outputs, and the PSNR gain
over the unrefined output, averaged over photos and then over the sigma levels, picks the best. `--write` sets
the file's inference.refine/refine_kernel/refine_passes to it (its tensors are copied unchanged).
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from training.set_inference import rewrite  # noqa: E402
from vidrestore import Restorer  # noqa: E402
from vidrestore.errors import VidrestoreError  # noqa: E402
from vidrestore.evaluation import data  # noqa: E402
from vidrestore.models.refine import guided_refine  # noqa: E402


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over frames of the per-frame PSNR (the harness's convention)."""
    return float((-10 * torch.log10((a - b).pow(2).flatten(1).mean(1).clamp_min(1e-12))).mean())


def restored_clips(model: str, root: Path, photos: int, sigmas: list[int], seed: int, size: tuple[int, int]):
    """-> {sigma: [(clean, lq, out), ...]}: the unrefined outputs of `photos` training clips per noise level."""
    r = Restorer.from_pretrained(model, device="cpu", refine=0.0)
    sources = data.find_sources([root])
    random.Random(seed).shuffle(sources)
    clips: dict[int, list] = {s: [] for s in sigmas}
    for i, path in enumerate(sources[:photos]):
        clean, fps = data.clean_clip(path, 10, size, 1, seed)
        for s in sigmas:
            lq = data.degrade_clip(clean, path.stem, f"awgn{s}", seed, fps).degraded
            clips[s].append((clean, lq, r.restore(lq)))
        print(f"restored {i + 1}/{photos}: {path.name}", file=sys.stderr, flush=True)
    return clips


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="default", help="weights file or shipped name")
    p.add_argument("--data", type=Path, default=Path("../shared/data/train/cbsd432"), help="training photos")
    p.add_argument("--photos", type=int, default=16)
    p.add_argument("--size", default="256x192", help="clip size WxH (the harness's Kodak clips: 256x192)")
    p.add_argument("--sigmas", default="15,25,50", help="AWGN levels (1/255 units), comma-separated")
    p.add_argument("--strengths", default="0.15,0.2,0.25,0.3")
    p.add_argument("--kernels", default="5,7")
    p.add_argument("--passes", default="1,2")
    p.add_argument("--seed", type=int, default=7, help="photo shuffle and motion/noise seed")
    p.add_argument("--write", action="store_true", help="store the best setting in the weights file")
    a = p.parse_args(argv)
    try:
        sigmas = [int(s) for s in a.sigmas.split(",")]
        grid = list(itertools.product([int(k) for k in a.kernels.split(",")], [int(n) for n in a.passes.split(",")],
                                      [float(s) for s in a.strengths.split(",")]))
        if not a.data.is_dir():
            raise VidrestoreError(f"training photos not found: {a.data}")
        clips = restored_clips(a.model, a.data, a.photos, sigmas, a.seed, data.parse_size(a.size))
        results = []
        for kernel, passes, strength in grid:
            gains = [sum(psnr(guided_refine(out, lq, strength, kernel, passes), clean) - psnr(out, clean)
                         for clean, lq, out in clips[s]) / len(clips[s]) for s in sigmas]
            results.append((sum(gains) / len(gains), kernel, passes, strength, gains))
        results.sort()
        for mean, kernel, passes, strength, gains in results:
            per = "  ".join(f"s{s} {g:+.3f}" for s, g in zip(sigmas, gains))
            print(f"kernel {kernel} passes {passes} strength {strength:.2f}: {per}  mean {mean:+.3f} dB")
        _, kernel, passes, strength, _ = results[-1]
        print(f"best: kernel {kernel}, passes {passes}, strength {strength}")
        if a.write:
            print(rewrite(a.model, refine=strength, refine_kernel=kernel, refine_passes=passes))
    except VidrestoreError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
