"""``vidrestore eval``: compare our model with classical and learned peers on synthetic degradations."""

from __future__ import annotations

import argparse
from pathlib import Path

from vidrestore.config import ENSEMBLES

HELP = "evaluate the model against peers (PSNR, SSIM, temporal stability, speed) on degraded clean clips"

DEFAULT_PEERS = ["nlmeans", "bm3d", "atadenoise", "deblock", "vbm3d", "mvdegrain", "ffdnet"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="+", help="folders or files of clean photos and/or videos")
    parser.add_argument("--out", "-o", required=True, help="output folder (report.md, results.json, plots)")
    parser.add_argument("--degradations", default="awgn25,h264_crf37",
                        help="comma-separated presets of vidrestore.synth.degradations")
    parser.add_argument("--frames", type=int, default=10, help="frames per clip (photos become moving clips)")
    parser.add_argument("--size", default=None, help="clip size WIDTHxHEIGHT (photo motion window / video centre crop)")
    parser.add_argument("--downscale", type=int, default=1, help="integer area downscale of sources first (cleaner video)")
    parser.add_argument("--max-clips", type=int, default=None, help="use only the first N sources (sorted by name)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic motion and degradations")
    parser.add_argument("--methods", default="auto",
                        help="comma-separated: input, model, " + ", ".join(DEFAULT_PEERS)
                        + "; 'auto' = input, model if given, and every peer available here")
    model = parser.add_argument_group("our model")
    model.add_argument("--model", default=None, help="weights file or pretrained name (Restorer.from_pretrained)")
    model.add_argument("--model-config", default=None, help="model YAML, randomly initialised (smoke tests only)")
    model.add_argument("--steps", type=int, default=None, help="diffusion steps (default: the model's)")
    model.add_argument("--ensemble", type=int, default=None, choices=ENSEMBLES,
                       help="average over N flips/transposes of each tile (N times slower; default: the model's, 1)")
    model.add_argument("--refine", type=float, default=None, metavar="STRENGTH",
                       help="guided refinement strength, 0 = off, its detail pass too (default: the model's)")
    model.add_argument("--temporal-mean", type=float, default=None, metavar="ALPHA",
                       help="strength of the temporal mean after the refinement, 0 = off (default: the model's)")
    model.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (our model and FFDNet)")
    model.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                       help="our model's compute precision; auto: what `vidrestore run` uses (default: %(default)s)")
    model.add_argument("--tile", type=int, default=None, help="spatial tile size (default: untiled)")
    tune = parser.add_argument_group("peer tuning")
    tune.add_argument("--no-tune", action="store_true", help="run peers with default parameters (fast)")
    tune.add_argument("--tune-cache", default=None, help="JSON cache of tuned parameters (default: OUT/tuning.json)")
    tune.add_argument("--tune-source", default=None, help="photo/video to tune on (default: a source not evaluated)")
    parser.add_argument("--flow", default="auto", choices=["auto", "opencv", "torch"], help="optical-flow backend")
    parser.add_argument("--no-tof", action="store_true", help="skip tOF (one optical flow per output frame)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _methods(args: argparse.Namespace):
    from vidrestore.errors import InputError
    from vidrestore.evaluation.peers import PEERS, InputMethod, ModelMethod, build_method

    names = [n.strip() for n in args.methods.split(",") if n.strip()]
    auto = names == ["auto"]
    if auto:
        names = ["input"] + (["model"] if args.model or args.model_config else []) + DEFAULT_PEERS
    methods, unavailable = [], {}
    if auto and not (args.model or args.model_config):
        unavailable["model"] = "no weights given (--model)"
    for name in names:
        if name == "model":
            if not (args.model or args.model_config):
                raise InputError("method 'model' needs --model WEIGHTS (or --model-config YAML)")
            methods.append(ModelMethod(args.model, args.model_config, device=args.device, precision=args.precision,
                                       tile=args.tile, steps=args.steps, seed=args.seed,
                                       ensemble=args.ensemble, refine=args.refine,
                                       temporal_mean=args.temporal_mean))
        elif name == "input":
            methods.append(InputMethod())
        elif name in PEERS and auto and PEERS[name].available():
            unavailable[name] = PEERS[name].available()
        else:  # FFDNet runs on the model's device; the other peers are CPU-only
            methods.append(build_method(name, **({"device": args.device} if name == "ffdnet" else {})))
    return methods, unavailable


def main(args: argparse.Namespace) -> int:
    from vidrestore.errors import InputError
    from vidrestore.evaluation.data import parse_size
    from vidrestore.evaluation.harness import EvalConfig, evaluate
    from vidrestore.evaluation.report import summarize, markdown_table, write_report

    if args.frames < 2:
        raise InputError("--frames must be at least 2")
    if args.downscale < 1:
        raise InputError("--downscale must be a positive integer")
    out = Path(args.out)
    cfg = EvalConfig(
        sources=args.sources,
        degradations=[d.strip() for d in args.degradations.split(",") if d.strip()],
        frames=args.frames,
        size=parse_size(args.size),
        downscale=args.downscale,
        max_clips=args.max_clips,
        seed=args.seed,
        tune=not args.no_tune,
        tune_cache=args.tune_cache or str(out / "tuning.json"),
        tune_source=args.tune_source,
        flow_backend=args.flow,
        tof=not args.no_tof,
        progress=not args.quiet,
    )
    methods, unavailable = _methods(args)
    results = evaluate(cfg, methods, unavailable=unavailable)
    report = write_report(results, out)
    print(markdown_table(summarize(results)))
    print(f"\nreport: {report}")
    return 0
