"""Throughput benchmarks: the model alone, the whole ``run`` pipeline, and FFmpeg ``nlmeans`` as a yardstick.

For each frame size × precision × tiling the same synthetic frames are
restored by the model (``Restorer.restore``) and by FFmpeg's ``nlmeans`` (via
PyAV) in the same process, so ``ratio = model fps / nlmeans fps`` compares
like with like on whatever machine runs it. The whole pipeline (decode ->
restore -> encode, :func:`vidrestore.pipeline.restore_file`) runs in a
subprocess per measurement, which also reports its own peak RSS
(``resource.getrusage``): running it on 100 and on 1000 frames shows whether
memory grows with the length of the video (it should not). On CUDA, fp16/bf16
throughput and the model FLOPs per frame
(:class:`torch.utils.flop_counter.FlopCounterMode`) are added.

The model is the one named by ``model`` (a weights file or pretrained name;
``vidrestore bench`` passes the shipped ``default`` unless told otherwise) or,
with ``model=None``, a randomly initialised chain from ``config`` (speed does
not depend on the weights, but the architecture of a config may differ from
the shipped file's).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidrestore.errors import InputError

FACTOR = 32  # the model pads frames to multiples of this


@dataclass
class BenchConfig:
    """What to measure (see ``vidrestore bench --help``)."""

    sizes: list[tuple[int, int]]  # (h, w)
    frames: int = 8
    precisions: list[str] = field(default_factory=lambda: ["fp32", "bf16"])
    tiles: list[int | None] = field(default_factory=lambda: [None, 128])  # None = untiled
    model: str | None = None
    config: str = "tiny"
    steps: int | None = None
    device: str = "cpu"
    repeats: int = 1
    pipeline: bool = True
    rss_frames: list[int] = field(default_factory=lambda: [100, 1000])
    rss_size: tuple[int, int] = (64, 96)
    flops: bool | None = None  # None: on CUDA only
    nlmeans: bool = True


@dataclass
class Row:
    """One measurement of the model (and its yardsticks) at one setting."""

    size: str
    precision: str
    tile: str
    model_fps: float
    nlmeans_fps: float | None = None
    ratio: float | None = None
    pipeline_fps: float | None = None
    gflops_per_frame: float | None = None
    achieved_tflops: float | None = None
    peak_mb: float | None = None


@dataclass
class RssRow:
    """Peak RSS of a whole ``run`` pipeline process on a video of ``frames`` frames."""

    size: str
    frames: int
    seconds: float
    fps: float
    peak_rss_mb: float


@dataclass
class BenchResults:
    rows: list[Row]
    rss: list[RssRow]
    machine: dict[str, Any]
    config: dict[str, Any]
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- inputs


def synthetic_frames(frames: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """A deterministic textured clip (T,3,h,w) in [0,1] panning 1-2 px per frame, with mild noise."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(1, 3, h // 4 + 8, w // 4 + 8, generator=g)
    base = torch.nn.functional.interpolate(base, size=(h + 4 * frames, w + 4 * frames), mode="bicubic", align_corners=False)
    clip = torch.stack([base[0, :, 2 * t : 2 * t + h, t : t + w] for t in range(frames)])
    clip = clip + 0.03 * torch.randn(clip.shape, generator=g)
    return clip.clamp(0, 1).contiguous()


def write_video(path: str | Path, frames: int, h: int, w: int, fps: int = 25, seed: int = 0) -> Path:
    """Encode a synthetic H.264 test video (yuv420p, CRF 18) of ``frames`` frames with PyAV."""
    import av

    path = Path(path)
    period = min(frames, 50)
    clip = (synthetic_frames(period, h, w, seed) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": "18", "preset": "ultrafast"}
        for i in range(frames):
            k = i % (2 * period - 2) if period > 1 else 0  # ping-pong: smooth motion, no cuts
            k = k if k < period else 2 * period - 2 - k
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(clip[k]), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


# --------------------------------------------------------------------------- measurements


def _restorer(cfg: BenchConfig, precision: str, tile: int | None, size: tuple[int, int]):
    from vidrestore import Restorer

    if tile is None:  # untiled: one tile covers the padded frame
        tile = max(-(-s // FACTOR) * FACTOR for s in size)
    overlap = min(64, max(0, (tile // 4) // FACTOR * FACTOR))
    runtime = {"device": cfg.device, "precision": precision, "tile": tile, "tile_overlap": overlap}
    if cfg.steps is not None:
        runtime["steps"] = cfg.steps
    if cfg.model:
        return Restorer.from_pretrained(cfg.model, **runtime)
    return Restorer.from_config(cfg.config, **runtime)


def time_call(fn, frames: torch.Tensor, repeats: int = 1, warmup: int = 2) -> float:
    """Frames per second of ``fn(frames)`` (best of ``repeats``), after a warm-up call on the first ``warmup`` frames.

    On a GPU the first call at a new batch shape pays one-time costs (lazy kernel loading, allocator growth) that
    a short warm-up does not cover: warm up with the whole batch there (``warmup=len(frames)``).
    """
    if warmup > 0:
        fn(frames[:warmup])
    best = math.inf
    for _ in range(max(1, repeats)):
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn(frames)
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return frames.shape[0] / best


def model_flops_per_frame(restorer, frames: torch.Tensor) -> float:
    """FLOPs per frame of ``restorer.restore`` counted by :class:`FlopCounterMode` (2 per multiply-add)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        restorer.restore(frames)
    return counter.get_total_flops() / frames.shape[0]


def nlmeans_fps(frames: torch.Tensor, repeats: int = 1) -> float:
    """Throughput of FFmpeg ``nlmeans`` (default parameters) on the same frames."""
    from vidrestore.evaluation.peers import NLMeans

    method = NLMeans()
    return time_call(lambda x: method(x, None), frames, repeats, warmup=0)


def pipeline_run(video: Path, cfg: BenchConfig, precision: str = "fp32", tile: int | None = None,
                 size: tuple[int, int] | None = None) -> dict[str, float]:
    """Run the whole pipeline on ``video`` in a fresh subprocess; returns its frames, seconds, fps and peak RSS (MB)."""
    with tempfile.TemporaryDirectory(prefix="vidrestore-bench-") as tmp:
        spec = {
            "input": str(video), "output": str(Path(tmp) / "out.mp4"), "model": cfg.model, "config": cfg.config,
            "device": cfg.device, "precision": precision, "tile": tile, "steps": cfg.steps,
            "size": list(size) if size else None,
        }
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        proc = subprocess.run([sys.executable, "-m", "vidrestore.evaluation.bench", json.dumps(spec)],
                              capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise RuntimeError(f"pipeline subprocess failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def _worker(spec: dict[str, Any]) -> dict[str, float]:
    """Subprocess side of :func:`pipeline_run`: restore a file, report time and own peak RSS."""
    import resource

    from vidrestore.io.probe import probe
    from vidrestore.io.writer import EncoderSettings, plan_encoder
    from vidrestore.pipeline import RunOptions, restore_file

    cfg = BenchConfig(sizes=[], model=spec["model"], config=spec["config"], device=spec["device"], steps=spec["steps"])
    info = probe(spec["input"])
    size = tuple(spec["size"]) if spec["size"] else (info.video.height, info.video.width)
    restorer = _restorer(cfg, spec["precision"], spec["tile"], size)
    plan = plan_encoder(EncoderSettings(codec="libx264", crf=18, preset="ultrafast"), info.video)
    restorer.restore(torch.rand(2, 3, *size))  # warm-up: one-time fusing and allocations are not throughput
    t0 = time.perf_counter()
    summary = restore_file(spec["input"], spec["output"], restorer, plan,
                           RunOptions(progress=False), info=info, log=lambda _msg: None)
    seconds = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"frames": summary.frames, "seconds": seconds, "fps": summary.frames / seconds, "peak_rss_mb": peak_kb / 1024}


def machine() -> dict[str, Any]:
    """A short description of this machine (CPU model, cores, torch, GPU)."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def run_bench(cfg: BenchConfig, progress: bool = True, log=None) -> BenchResults:
    """Measure every (size, precision, tile) of ``cfg`` and, optionally, the pipeline's peak RSS."""
    from vidrestore.evaluation.profiling import Measure

    log = log or (lambda msg: print(msg, file=sys.stderr) if progress else None)
    cuda = cfg.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        raise InputError("--device cuda requested but CUDA is not available here")
    for p in cfg.precisions:
        if p not in ("fp32", "bf16", "fp16"):
            raise InputError(f"unknown precision {p!r} (fp32, bf16, fp16)")
        if p == "fp16" and not cuda:
            raise InputError("fp16 needs a GPU (--device cuda); on the CPU use fp32 or bf16")
    want_flops = cuda if cfg.flops is None else cfg.flops
    results = BenchResults(rows=[], rss=[], machine=machine(), config=asdict(cfg))
    with tempfile.TemporaryDirectory(prefix="vidrestore-bench-") as tmp:
        for h, w in cfg.sizes:
            frames = synthetic_frames(cfg.frames, h, w)
            size = f"{w}x{h}"
            ff_fps = None
            if cfg.nlmeans:
                log(f"[bench] {size}: FFmpeg nlmeans")
                ff_fps = nlmeans_fps(frames, cfg.repeats)
            video = write_video(Path(tmp) / f"in_{w}x{h}.mp4", cfg.frames, h, w) if cfg.pipeline else None
            flops = None
            for precision in cfg.precisions:
                for tile in cfg.tiles:
                    label = "untiled" if tile is None else f"tile {tile}"
                    if tile is not None and tile >= max(h, w):
                        continue  # would be untiled: nothing new to measure
                    log(f"[bench] {size} {precision} {label}: model")
                    restorer = _restorer(cfg, precision, tile, (h, w))
                    with Measure() as m:
                        # CUDA: warm up at the timed shape; CPU: 2 frames keep the bench short
                        fps = time_call(restorer.restore, frames, cfg.repeats,
                                        warmup=frames.shape[0] if cuda else 2)
                    row = Row(size=size, precision=precision, tile=label, model_fps=fps, nlmeans_fps=ff_fps,
                              ratio=fps / ff_fps if ff_fps else None,
                              peak_mb=m.peak_cuda_mb if cuda else m.peak_rss_mb)
                    if want_flops and precision == cfg.precisions[0] and tile is None:
                        flops = model_flops_per_frame(restorer, frames)
                    if flops is not None:
                        row.gflops_per_frame = flops / 1e9
                        row.achieved_tflops = flops * fps / 1e12
                    if video is not None and precision == cfg.precisions[0] and tile == cfg.tiles[0]:
                        log(f"[bench] {size} {precision} {label}: whole pipeline (subprocess)")
                        row.pipeline_fps = pipeline_run(video, cfg, precision, tile, (h, w))["fps"]
                    results.rows.append(row)
                    del restorer
        if cfg.pipeline and cfg.rss_frames:
            h, w = cfg.rss_size
            for n in cfg.rss_frames:
                log(f"[bench] peak RSS: pipeline on {n} frames of {w}x{h}")
                video = write_video(Path(tmp) / f"rss_{n}.mp4", n, h, w)
                r = pipeline_run(video, cfg, cfg.precisions[0], None, (h, w))
                results.rss.append(RssRow(size=f"{w}x{h}", frames=int(r["frames"]), seconds=r["seconds"],
                                          fps=r["fps"], peak_rss_mb=r["peak_rss_mb"]))
    if cfg.model is None:
        results.notes.append(f"Model: randomly initialised chain from config {cfg.config!r} "
                             "(speed does not depend on the weights).")
    else:
        results.notes.append(f"Model: the trained weights {cfg.model!r} (their config, window and sampling steps).")
    return results


# --------------------------------------------------------------------------- report


def _f(v: float | None, pattern: str = "{:.2f}") -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else pattern.format(v)


def markdown(results: BenchResults) -> str:
    """The benchmark as Markdown: machine, model table, pipeline peak-RSS table, notes."""
    m = results.machine
    cfg = results.config
    lines = [
        "# vidrestore bench",
        "",
        f"Machine: {m.get('cpu')} ({m.get('cores')} cores, torch {m.get('torch')}, {m.get('torch_threads')} threads)"
        + (f", GPU {m['gpu']}" if "gpu" in m else "") + f"; device `{cfg['device']}`; {cfg['frames']} frames per "
        f"measurement, best of {cfg['repeats']}"
        + (f", {cfg['steps']} sampling steps" if cfg.get("steps") else ", the model's default sampling steps") + ".",
        "",
        "| size | precision | tiling | model fps | nlmeans fps | model / nlmeans | pipeline fps | GFLOPs/frame | TFLOP/s | peak MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results.rows:
        lines.append(
            f"| {r.size} | {r.precision} | {r.tile} | {_f(r.model_fps)} | {_f(r.nlmeans_fps)} | {_f(r.ratio, '{:.3f}')} "
            f"| {_f(r.pipeline_fps)} | {_f(r.gflops_per_frame, '{:.1f}')} | {_f(r.achieved_tflops, '{:.3f}')} "
            f"| {_f(r.peak_mb, '{:.0f}')} |"
        )
    lines += ["", "model fps: `Restorer.restore` alone on frames in memory. nlmeans: FFmpeg `nlmeans` (default "
              "s=1, p=7, r=15) on the same frames in the same run. pipeline fps: decode -> restore -> H.264 encode "
              "of a video file (`vidrestore.pipeline.restore_file`) in a subprocess after a warm-up call, at the first "
              "precision and tiling of each size only."]
    if results.rss:
        lines += ["", "## Peak memory of the whole pipeline vs video length", "",
                  "| size | frames | seconds | fps | peak RSS (MB) |", "|---|---|---|---|---|"]
        lines += [f"| {r.size} | {r.frames} | {r.seconds:.1f} | {r.fps:.2f} | {r.peak_rss_mb:.0f} |" for r in results.rss]
    if results.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in results.notes]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # subprocess worker of pipeline_run()
    print(json.dumps(_worker(json.loads(sys.argv[1]))))
