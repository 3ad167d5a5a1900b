"""``vidrestore bench``: throughput of the model and of the ``run`` pipeline, against FFmpeg ``nlmeans``."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "benchmark model and pipeline throughput (fps, ratio to FFmpeg nlmeans, peak memory, FLOPs on CUDA)"

FULL_SIZES = "1280x720,1920x1080"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", default="256x192,640x360", help="comma-separated WIDTHxHEIGHT frame sizes")
    parser.add_argument("--full", action="store_true", help=f"also {FULL_SIZES} (slow on a CPU)")
    parser.add_argument("--frames", type=int, default=8, help="frames per measurement")
    parser.add_argument("--repeats", type=int, default=1, help="timed repeats per measurement (best is kept)")
    parser.add_argument("--precisions", default=None,
                        help="comma-separated fp32, bf16, fp16 (default: fp32,bf16 on CPU; fp32,bf16,fp16 on CUDA)")
    parser.add_argument("--tiles", default="untiled,128",
                        help="comma-separated tile sizes in px (multiples of 32) and/or 'untiled'")
    parser.add_argument("--model", default=None,
                        help="weights file or pretrained name (default: the shipped 'default' weights, unless --config)")
    parser.add_argument("--config", default=None,
                        help="model config name or YAML: time a randomly initialised chain instead of --model")
    parser.add_argument("--steps", type=int, default=None, help="sampling steps (default: the model's)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--no-pipeline", action="store_true", help="skip the whole-pipeline measurements")
    parser.add_argument("--no-nlmeans", action="store_true", help="skip the FFmpeg nlmeans yardstick")
    parser.add_argument("--rss-frames", default="100,1000",
                        help="video lengths for the pipeline peak-RSS comparison ('' to skip)")
    parser.add_argument("--rss-size", default="96x64", help="frame size of the peak-RSS videos")
    parser.add_argument("--flops", action=argparse.BooleanOptionalAction, default=None,
                        help="count model FLOPs per frame (default: on CUDA only)")
    parser.add_argument("--out", "-o", default=None, help="write the Markdown report here (and a .json beside it)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress lines")


def _ints(text: str, what: str) -> list[int]:
    from vidrestore.errors import InputError

    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{what}: expected comma-separated integers, got {text!r}") from None
    if any(v < 2 for v in values):
        raise InputError(f"{what}: every value must be at least 2")
    return values


def main(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict

    import torch

    from vidrestore.errors import InputError
    from vidrestore.evaluation.bench import BenchConfig, markdown, run_bench
    from vidrestore.evaluation.data import parse_size

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    sizes_text = args.sizes + ("," + FULL_SIZES if args.full else "")
    sizes = [parse_size(s) for s in sizes_text.split(",") if s.strip()]
    if not sizes:
        raise InputError("--sizes: give at least one WIDTHxHEIGHT")
    precisions = args.precisions or ("fp32,bf16,fp16" if device.startswith("cuda") else "fp32,bf16")
    tiles: list[int | None] = []
    for t in args.tiles.split(","):
        t = t.strip()
        if t in ("untiled", "none", "0"):
            tiles.append(None)
        elif t:
            if not t.isdigit() or int(t) < 32 or int(t) % 32:
                raise InputError(f"--tiles: {t!r} is not 'untiled' or a multiple of 32 pixels")
            tiles.append(int(t))
    if args.frames < 2:
        raise InputError("--frames must be at least 2")
    if args.model and args.config:
        raise InputError("--model and --config exclude each other: time trained weights or a random chain, not both")
    model = args.model or (None if args.config else "default")  # what `vidrestore run` uses unless told
    cfg = BenchConfig(
        sizes=sizes, frames=args.frames, precisions=[p.strip() for p in precisions.split(",") if p.strip()],
        tiles=tiles or [None], model=model, config=args.config or "tiny", steps=args.steps, device=device,
        repeats=args.repeats, pipeline=not args.no_pipeline, rss_frames=_ints(args.rss_frames, "--rss-frames"),
        rss_size=parse_size(args.rss_size), flops=args.flops, nlmeans=not args.no_nlmeans,
    )
    results = run_bench(cfg, progress=not args.quiet)
    text = markdown(results)
    print(text)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        out.with_suffix(".json").write_text(json.dumps(asdict(results), indent=1, default=str))
    return 0
