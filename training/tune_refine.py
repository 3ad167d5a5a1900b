"""Tune the guided refinement (vidrestore/models/refine.py) of a weights file on training photos, never on dev data.

    python training/tune_refine.py --model default                      # prints the grid, best last
    python training/tune_refine.py --model runs/x.safetensors --write   # also stores the best in the file

Each of `--photos` CBSD432 photos (a fixed shuffle) becomes a 10-frame `--size` moving clip, as the evaluation
harness builds its Kodak clips; each is degraded with AWGN at every `--sigmas` level and restored once with the
refinement off. Every (kernel, passes, strength) of the grid is then applied to those outputs, and the PSNR gain
over the unrefined output, averaged over photos and then over the sigma levels, picks the best; then, on top of it,
every (detail kernel, detail weight) of the detail pass (0 = off is always a candidate); then, after the refinement
so chosen, every (alpha, radius, match scale) of the temporal mean (models/refine_temporal.py; 0 = off is a
candidate); and if a
mean wins, every (strength, detail weight) once more with that mean after it (it does part of the denoising, so a
weaker refinement may pay; the boxes and passes stay).
`--write` sets the file's inference.refine/refine_kernel/refine_passes/refine_detail/refine_detail_kernel and
temporal_mean/temporal_mean_radius/temporal_mean_match_scale to the winners (its tensors are copied unchanged).
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
from vidrestore.models.align import MATCH_SCALES  # noqa: E402
from vidrestore.models.refine import guided_refine  # noqa: E402
from vidrestore.models.refine_temporal import settle_clip  # noqa: E402


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over frames of the per-frame PSNR (the harness's convention)."""
    return float((-10 * torch.log10((a - b).pow(2).flatten(1).mean(1).clamp_min(1e-12))).mean())


def restored_clips(model: str, root: Path, photos: int, sigmas: list[int], seed: int, size: tuple[int, int]):
    """-> {sigma: [(clean, lq, out), ...]}: the unrefined outputs of `photos` training clips per noise level."""
    r = Restorer.from_pretrained(model, device="cpu", refine=0.0, temporal_mean=0.0)  # both stages are applied here
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
    p.add_argument("--details", default="0.3,0.45,0.6", help="detail-pass weights tried on the best (0 is always tried)")
    p.add_argument("--detail-kernels", default="9")
    p.add_argument("--alphas", default="0.1,0.15,0.2,0.25,0.3", help="temporal-mean strengths tried (0 is always tried)")
    p.add_argument("--radii", default="2,3", help="temporal-mean radii tried")
    p.add_argument("--match-scales", default="1,2", help="temporal-mean block-matching scales tried (1, 2, 4)")
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

        def gains(**setting) -> list[float]:
            """Mean PSNR gain of the refinement `setting` (guided_refine's keywords) per sigma level."""
            return [sum(psnr(guided_refine(out, lq, **setting), clean) - psnr(out, clean)
                        for clean, lq, out in clips[s]) / len(clips[s]) for s in sigmas]

        def search(settings: list[dict], gains=gains) -> dict:
            results = sorted(((sum(g) / len(g), i, g) for i, g in enumerate(gains(**s) for s in settings)))
            for mean, i, g in results:
                per = "  ".join(f"s{s} {x:+.3f}" for s, x in zip(sigmas, g))
                print(" ".join(f"{k} {v}" for k, v in settings[i].items()) + f": {per}  mean {mean:+.3f} dB")
            return settings[results[-1][1]]

        best = search([dict(strength=s, kernel=k, passes=n) for k, n, s in grid])
        kernels = [int(k) for k in a.detail_kernels.split(",")]
        best = search([dict(best, detail=0.0, detail_kernel=kernels[0])]  # off (its box size does not matter)
                      + [dict(best, detail=float(d), detail_kernel=k) for k in kernels for d in a.details.split(",") if float(d) > 0])
        print("best: " + ", ".join(f"{k} {v}" for k, v in best.items()))
        refined = {s: [(clean, lq, guided_refine(out, lq, **best)) for clean, lq, out in clips[s]] for s in sigmas}

        def mean_gains(alpha: float, radius: int, match_scale: int) -> list[float]:
            """Mean PSNR gain of the temporal mean (alpha, radius, match_scale) over the refined outputs, per sigma."""
            return [sum(psnr(settle_clip(out, lq, alpha, radius, match_scale), clean) - psnr(out, clean)
                        for clean, lq, out in refined[s]) / len(refined[s]) for s in sigmas]

        radii, scales = [int(r) for r in a.radii.split(",")], [int(m) for m in a.match_scales.split(",")]
        if bad := [m for m in scales if m not in MATCH_SCALES]:
            raise VidrestoreError(f"--match-scales must be among {', '.join(map(str, MATCH_SCALES))}, got {bad[0]}")
        mean = search([dict(alpha=0.0, radius=radii[0], match_scale=scales[0])]
                      + [dict(alpha=float(x), radius=r, match_scale=m) for m in scales for r in radii
                         for x in a.alphas.split(",") if float(x) > 0], mean_gains)
        print("best temporal mean: " + ", ".join(f"{k} {v}" for k, v in mean.items()))
        if mean["alpha"] > 0:  # the mean now does part of the denoising: the refinement's strength and detail again, under it
            def gains_under_mean(**setting) -> list[float]:
                """Mean PSNR gain over the unrefined output of the refinement `setting`, then the chosen mean."""
                return [sum(psnr(settle_clip(guided_refine(out, lq, **setting), lq, mean["alpha"], mean["radius"],
                                             mean["match_scale"]), clean)
                            - psnr(out, clean) for clean, lq, out in clips[s]) / len(clips[s]) for s in sigmas]

            strengths = sorted({float(x) for x in a.strengths.split(",")} | {best["strength"]})
            details = sorted({float(d) for d in a.details.split(",")} | {best["detail"]})
            best = search([dict(best, strength=st, detail=d) for st in strengths for d in details], gains_under_mean)
            print("best under the mean: " + ", ".join(f"{k} {v}" for k, v in best.items()))
        if a.write:
            print(rewrite(a.model, refine=best["strength"], refine_kernel=best["kernel"], refine_passes=best["passes"],
                          refine_detail=best["detail"], refine_detail_kernel=best["detail_kernel"],
                          temporal_mean=mean["alpha"], temporal_mean_radius=mean["radius"],
                          temporal_mean_match_scale=mean["match_scale"]))
    except VidrestoreError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
