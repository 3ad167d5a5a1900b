"""Export the pixel decoder of a `finetune_decoder.py` checkpoint as a chain weights file, without
finishing the run (e.g. to evaluate, or to start a new run from it with init=).

    python training/export_checkpoint.py runs/decoder/ckpt/step_00002000.safetensors out.safetensors
    python training/export_checkpoint.py CKPT OUT --weights model --dtype fp32 --untrained
    python training/export_checkpoint.py CKPT vidrestore/weights/default.safetensors --inference-steps 1 --window 16 --window-overlap 4

The chain is rebuilt from the checkpoint's own training config (its init= file must still exist);
`--weights ema` (default) takes the EMA copy, `model` the raw parameters. `--inference-steps`, `--window`,
`--window-overlap`, `--refine*`, `--temporal-mean*` and `--deblock-temporal` set the file's inference defaults (DiT
sampling steps, temporal window, guided refinement, the temporal mean after it, the temporal mean on compressed
frames); `training/set_inference.py` changes them in a finished weights file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from safetensors import safe_open  # noqa: E402

from training import common as C  # noqa: E402
from vidrestore.errors import VidrestoreError  # noqa: E402
from vidrestore.models.refine import setting_problems  # noqa: E402
from vidrestore.models.align import MATCH_SCALES  # noqa: E402
from vidrestore.models.refine_temporal import MAX_RADIUS  # noqa: E402


def set_inference(cfg, steps: int | None = None, window: int | None = None, window_overlap: int | None = None,
                  refine: float | None = None, refine_kernel: int | None = None, refine_passes: int | None = None,
                  refine_detail: float | None = None, refine_detail_kernel: int | None = None,
                  temporal_mean: float | None = None, temporal_mean_radius: int | None = None,
                  temporal_mean_match_scale: int | None = None, deblock_temporal: float | None = None) -> None:
    """Set a chain config's inference defaults in place (None leaves a value as it is); ConfigError if invalid.
    deblock_temporal is the decoder's (decoder.deblock_temporal: no weights of its own, so a finished file can take it)."""
    inference = dict(cfg.inference)  # the file's defaults: DiT sampling steps, temporal window, refinement
    for key, flag, value, low in (("steps", "--inference-steps", steps, 1), ("window", "--window", window, 1),
                                  ("window_overlap", "--window-overlap", window_overlap, 0), ("refine", "--refine", refine, 0)):
        if value is not None:
            if value < low:
                raise C.ConfigError(f"{flag} must be >= {low}, got {value}")
            inference[key] = value
    for key, value in (("refine_kernel", refine_kernel), ("refine_passes", refine_passes), ("refine_detail", refine_detail),
                       ("refine_detail_kernel", refine_detail_kernel), ("temporal_mean", temporal_mean),
                       ("temporal_mean_radius", temporal_mean_radius), ("temporal_mean_match_scale", temporal_mean_match_scale)):
        if value is not None:
            inference[key] = value
    if problems := setting_problems(inference["refine_kernel"], inference["refine_passes"], inference["refine_detail"],
                                    inference["refine_detail_kernel"]):  # the Restorer's rules, checked before writing
        key, what = problems[0]
        raise C.ConfigError(f"--{key.replace('_', '-')} {what}")
    if not 0 <= inference["temporal_mean"] <= 1:
        raise C.ConfigError(f"--temporal-mean must be in [0, 1] (0 = off), got {inference['temporal_mean']}")
    if not 1 <= inference["temporal_mean_radius"] <= MAX_RADIUS:
        raise C.ConfigError(f"--temporal-mean-radius must be in [1, {MAX_RADIUS}], got {inference['temporal_mean_radius']}")
    if inference["temporal_mean_match_scale"] not in MATCH_SCALES:
        raise C.ConfigError(f"--temporal-mean-match-scale must be one of {', '.join(map(str, MATCH_SCALES))}, "
                            f"got {inference['temporal_mean_match_scale']}")
    if inference["window_overlap"] >= inference["window"]:
        raise C.ConfigError(f"--window-overlap ({inference['window_overlap']}) must be smaller than the window ({inference['window']})")
    if deblock_temporal is not None and deblock_temporal < 0:
        raise C.ConfigError(f"--deblock-temporal must be >= 0 (0 = off), got {deblock_temporal}")
    OmegaConf.set_readonly(cfg, False)
    for key, value in inference.items():
        cfg.inference[key] = value
    if deblock_temporal is not None:
        cfg.decoder.deblock_temporal = float(deblock_temporal)
    OmegaConf.set_readonly(cfg, True)


def add_inference_args(p: argparse.ArgumentParser) -> None:
    """The command-line options of set_inference's values (None: leave the config's)."""
    p.add_argument("--inference-steps", type=int, help="DiT sampling steps the file defaults to")
    p.add_argument("--window", type=int, help="frames per temporal window the file defaults to")
    p.add_argument("--window-overlap", type=int, help="overlap of the temporal windows")
    p.add_argument("--refine", type=float, help="guided refinement strength the file defaults to (0 = off)")
    p.add_argument("--refine-kernel", type=int, help="guided refinement box size (odd)")
    p.add_argument("--refine-passes", type=int, choices=(1, 2), help="guided refinement passes")
    p.add_argument("--refine-detail", type=float, help="weight of the refinement's detail pass (0 = off, at most 1)")
    p.add_argument("--refine-detail-kernel", type=int, help="the detail pass's box size (odd)")
    p.add_argument("--temporal-mean", type=float, metavar="ALPHA",
                   help="the temporal mean after the refinement: h = ALPHA x the removed noise (0 = off, at most 1)")
    p.add_argument("--temporal-mean-radius", type=int, help=f"its neighbours on each side (1-{MAX_RADIUS})")
    p.add_argument("--temporal-mean-match-scale", type=int, metavar="M",
                   help="its block matching searches down to 1/M size, finer sizes take only a sub-pixel step "
                        f"({', '.join(map(str, MATCH_SCALES))})")
    p.add_argument("--deblock-temporal", type=float, metavar="KAPPA",
                   help="decoder.deblock_temporal: the temporal mean on compressed frames (its kappa; 0 = off)")


def inference_values(a: argparse.Namespace) -> dict:
    """Parsed add_inference_args options -> set_inference's keyword arguments."""
    return dict(steps=a.inference_steps, window=a.window, window_overlap=a.window_overlap, refine=a.refine,
                refine_kernel=a.refine_kernel, refine_passes=a.refine_passes, refine_detail=a.refine_detail,
                refine_detail_kernel=a.refine_detail_kernel, temporal_mean=a.temporal_mean,
                temporal_mean_radius=a.temporal_mean_radius, temporal_mean_match_scale=a.temporal_mean_match_scale,
                deblock_temporal=a.deblock_temporal)


def export(ckpt: Path, out: Path, weights: str = "ema", dtype: str = "fp16", trained: bool = True,
           inference_steps: int | None = None, **inference) -> Path:
    """The checkpoint's `weights` decoder as a chain file; inference_steps and `inference` (set_inference's other
    keywords: window, window_overlap, refine, ...) set its inference defaults."""
    if not ckpt.is_file():
        raise C.ConfigError(f"checkpoint not found: {ckpt}")
    with safe_open(str(ckpt), framework="pt") as f:
        meta = f.metadata() or {}
        if "config" not in meta or "step" not in meta:
            raise C.ConfigError(f"{ckpt} is not a training checkpoint (no config/step metadata)")
        prefix = f"{weights}.decoder."
        state = {k[len(prefix):]: f.get_tensor(k) for k in f.keys() if k.startswith(prefix)}
    if not state:
        raise C.ConfigError(f"{ckpt} holds no '{weights}' decoder weights (is it a finetune_decoder checkpoint?)")
    cfg = OmegaConf.create(meta["config"])
    chain = C.build_chain(cfg, C.Env(torch.device("cpu")))
    chain.pixel_decoder.load_state_dict(state)  # (copies cast to the model's dtype)
    set_inference(chain.cfg, steps=inference_steps, **inference)
    return C.export_chain(chain, out, "decoder", trained=trained, dtype=dtype, steps=meta["step"],
                          latent=str(cfg.latent), perceptual=str(cfg.loss.perceptual))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--weights", choices=["ema", "model"], default="ema")
    p.add_argument("--dtype", choices=["fp16", "fp32"], default="fp16")
    p.add_argument("--untrained", action="store_true", help="mark the file as not trained (e.g. an early checkpoint)")
    add_inference_args(p)  # unset: the checkpoint config's
    a = p.parse_args(argv)
    try:
        values = inference_values(a)
        print(export(a.checkpoint, a.out, a.weights, a.dtype, trained=not a.untrained,
                     inference_steps=values.pop("steps"), **values))
    except VidrestoreError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
