"""The evaluation loop: clean clips × degradations × methods -> per-frame metrics.

Every method of a run restores exactly the same degraded frames (fixed seeds).
Its output is checked (frame count, size, finite values) and a method that
breaks the contract fails the run with a :class:`MethodError` naming it. Flows
for the temporal metrics are computed once per clean clip.

Typical use (what ``vidrestore eval`` does)::

    cfg = EvalConfig(sources=["photos/"], degradations=["awgn25"], frames=10, size=(192, 256))
    results = evaluate(cfg, [InputMethod(), build_method("vbm3d")])
    write_report(results, "out/")
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch

from vidrestore.errors import InputError, VidrestoreError
from vidrestore.evaluation import data, metrics
from vidrestore.evaluation.peers import Method
from vidrestore.evaluation.profiling import Measure
from vidrestore.evaluation.tuning import TuneCache, tune


class MethodError(VidrestoreError):
    """A method returned frames that break the contract (count, size, dtype, non-finite values)."""


@dataclass
class EvalConfig:
    """What to evaluate on; see ``vidrestore eval --help`` for the meaning of each field."""

    sources: list[str]
    degradations: list[str] = field(default_factory=lambda: ["awgn25", "h264_crf37"])
    frames: int = 10
    size: tuple[int, int] | None = None  # (h, w) crop / moving-clip size
    downscale: int = 1
    max_clips: int | None = None
    seed: int = 0
    tune: bool = True
    tune_cache: str | None = None
    tune_source: str | None = None
    flow_backend: str = "auto"
    tof: bool = True
    progress: bool = True


@dataclass
class Record:
    """Metrics of one method on one degraded clip (per-frame lists; temporal ones have T-1 entries)."""

    clip: str
    degradation: str
    method: str
    params: str
    frames: int
    seconds: float
    peak_rss_mb: float
    peak_cuda_mb: float | None
    psnr: list[float]
    ssim: list[float]
    warp: list[float]
    tof: list[float] | None
    fdiff: list[float]


@dataclass
class EvalResults:
    """Everything a report needs: records, the config, tuned parameters and notes."""

    records: list[Record]
    config: dict[str, Any]
    methods: list[str]
    tuned: dict[str, str] = field(default_factory=dict)  # "method/degradation" -> describe()
    clean_warp: dict[str, float] = field(default_factory=dict)  # clip -> warp error of the clean clip
    unavailable: dict[str, str] = field(default_factory=dict)  # method -> why it was not run
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "methods": self.methods,
            "tuned": self.tuned,
            "clean_warp": self.clean_warp,
            "unavailable": self.unavailable,
            "notes": self.notes,
            "records": [asdict(r) for r in self.records],
        }


def _finite_list(x: torch.Tensor) -> list[float]:
    return [float(v) if math.isfinite(float(v)) else float("inf") for v in x]


def run_method(method: Method, clip: data.EvalClip) -> tuple[torch.Tensor, Measure]:
    """Run ``method`` on ``clip.degraded`` under :class:`Measure`; validate and clamp its output."""
    x = clip.degraded.clone()  # a method must not be able to alter the shared degraded frames
    with Measure() as m:
        out = method(x, clip.info)
    expected = tuple(clip.degraded.shape)
    where = f"on clip {clip.info.name!r} ({clip.info.degradation})"
    if not isinstance(out, torch.Tensor):
        raise MethodError(f"method {method.name!r} returned {type(out).__name__} {where}; expected a tensor of shape {expected}")
    out = out.detach().float().cpu()
    if out.ndim != 4 or out.shape[0] != expected[0]:
        got = f"{out.shape[0]} frames" if out.ndim == 4 else f"a tensor of shape {tuple(out.shape)}"
        raise MethodError(f"method {method.name!r} returned {got} {where}; expected {expected[0]} frames (T,3,H,W)")
    if tuple(out.shape) != expected:
        raise MethodError(
            f"method {method.name!r} returned frames of {out.shape[1]}x{out.shape[2]}x{out.shape[3]} {where}; "
            f"expected {expected[1]}x{expected[2]}x{expected[3]} (C x H x W)"
        )
    if not torch.isfinite(out).all():
        raise MethodError(f"method {method.name!r} returned NaN or infinite values {where}")
    return out.clamp(0, 1), m


def _clean_clips(cfg: EvalConfig, paths: list[Path]) -> Iterator[tuple[str, torch.Tensor, float]]:
    for path in paths:
        clip, fps = data.clean_clip(path, cfg.frames, cfg.size, cfg.downscale, cfg.seed)
        if clip.shape[0] < 2:
            raise InputError(f"{path.name}: need at least 2 frames for temporal metrics")
        yield path.stem, clip, fps


def _tuning_source(cfg: EvalConfig, sources: list[Path], used: list[Path]) -> tuple[Path, int, str]:
    """The tuning source, its seed and a one-line description (never the evaluated frames)."""
    if cfg.tune_source:
        found = data.find_sources([cfg.tune_source])[0]
        return found, cfg.seed + 1, f"{found.name} (seed {cfg.seed + 1})"
    spare = [p for p in sources if p not in used]
    if spare:
        return spare[0], cfg.seed + 1, f"{spare[0].name} (not in the evaluation set, seed {cfg.seed + 1})"
    what = "another motion and noise seed" if data.is_image(used[0]) else "the same frames with another noise seed"
    return used[0], cfg.seed + 1, f"{used[0].name}, {what} ({cfg.seed + 1})"


def evaluate(
    cfg: EvalConfig,
    methods: list[Method],
    degrade: data.DegradeFn | None = None,
    unavailable: dict[str, str] | None = None,
) -> EvalResults:
    """Run every method on every (clip, degradation) of ``cfg``; see :class:`EvalResults`.

    ``degrade(clip, name, seed)`` defaults to :func:`vidrestore.synth.degradations.degrade`.
    """
    if not methods:
        raise InputError("no methods to evaluate")
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise InputError(f"duplicate method names: {names}")
    if cfg.frames < 2:
        raise InputError("--frames must be at least 2 (temporal metrics)")
    if degrade is None:
        data.check_degradations(cfg.degradations)
    sources = data.find_sources(cfg.sources)
    used = sources[: cfg.max_clips] if cfg.max_clips else sources
    results = EvalResults(records=[], config={**asdict(cfg), "sources_used": [p.name for p in used]}, methods=names,
                          unavailable=dict(unavailable or {}))

    # --- tuning on a separate clip, per degradation
    params: dict[tuple[str, str], dict[str, Any]] = {}
    tunable = any(len(m.grid(data.ClipInfo("", d, 0.1))) > 1 for m in methods for d in cfg.degradations)
    if cfg.tune and tunable:
        cache = TuneCache(cfg.tune_cache)
        path, seed, desc = _tuning_source(cfg, sources, used)
        tclean, tfps = data.clean_clip(path, cfg.frames, cfg.size, cfg.downscale, seed)
        results.notes.append(f"Peers tuned (grid search, best mean PSNR) on {desc}.")
        for d in cfg.degradations:
            tclip = data.degrade_clip(tclean, f"tune:{path.stem}", d, seed, tfps, degrade)
            for m in methods:
                params[m.name, d] = tune(m, tclip, cache)
    else:
        for m in methods:
            for d in cfg.degradations:
                params[m.name, d] = dict(m.params)
        if not cfg.tune:
            results.notes.append("Peers run with default parameters (no tuning).")

    progress = _progress(len(used) * len(cfg.degradations) * len(methods), cfg.progress)
    for name, clean, fps in _clean_clips(cfg, used):
        flows = metrics.clip_flows(clean, cfg.flow_backend)
        results.clean_warp[name] = float(metrics.warping_error(clean, flows).mean())
        for d in cfg.degradations:
            clip = data.degrade_clip(clean, name, d, cfg.seed, fps, degrade)
            for m in methods:
                progress.set_description(f"{name} {d} {m.name}")
                m.params = dict(params[m.name, d])
                results.tuned[f"{m.name}/{d}"] = m.describe()
                out, meas = run_method(m, clip)
                results.records.append(
                    Record(
                        clip=name, degradation=d, method=m.name, params=m.describe(), frames=out.shape[0],
                        seconds=meas.seconds, peak_rss_mb=meas.peak_rss_mb, peak_cuda_mb=meas.peak_cuda_mb,
                        psnr=_finite_list(metrics.psnr(out, clean)),
                        ssim=_finite_list(metrics.ssim(out, clean)),
                        warp=_finite_list(metrics.warping_error(out, flows)),
                        tof=_finite_list(metrics.tof(out, flows, cfg.flow_backend)) if cfg.tof else None,
                        fdiff=_finite_list(metrics.frame_difference_error(out, clean)),
                    )
                )
                progress.update(1)
    progress.close()
    return results


class _NoProgress:
    def set_description(self, *_: Any) -> None: ...
    def update(self, *_: Any) -> None: ...
    def close(self) -> None: ...


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return _NoProgress()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoProgress()
    return tqdm(total=total, unit="run", dynamic_ncols=True)

