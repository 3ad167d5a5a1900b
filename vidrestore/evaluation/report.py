"""Turn :class:`~vidrestore.evaluation.harness.EvalResults` into Markdown, JSON and PNG plots.

Files written by :func:`write_report` into the output folder:

* ``report.md`` -- the summary table (degradation × method) and notes,
* ``results.json`` -- every per-frame value, the config and tuned parameters,
* ``per_frame_psnr.png`` -- PSNR per frame index (mean over clips), one panel per degradation,
* ``quality_vs_fps.png`` -- mean PSNR against throughput (log scale).

Plots need ``matplotlib``; without it they are skipped with a note.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from vidrestore.evaluation.harness import EvalResults, Record

COLUMNS = [
    ("PSNR ↑", "psnr", "{:.2f}"),
    ("SSIM ↑", "ssim", "{:.4f}"),
    ("warp ×10³ ↓", "warp", "{:.3f}"),
    ("tOF ↓", "tof", "{:.3f}"),
    ("Δ-err ×10² ↓", "fdiff", "{:.3f}"),
    ("fps ↑", "fps", "{:.2f}"),
    ("peak MB", "peak_mb", "{:.1f}"),
]


@dataclass
class Summary:
    """Aggregates of one (degradation, method) over all clips and frames."""

    degradation: str
    method: str
    psnr: float
    ssim: float
    warp: float  # ×1e3
    tof: float | None
    fdiff: float  # ×1e2
    fps: float
    peak_mb: float
    clips: int


def _mean(values: list[float]) -> float:
    if not values:
        return float("nan")
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else float("inf")


def summarize(results: EvalResults) -> list[Summary]:
    """One :class:`Summary` per (degradation, method), in run order."""
    groups: dict[tuple[str, str], list[Record]] = {}
    for r in results.records:
        groups.setdefault((r.degradation, r.method), []).append(r)
    out = []
    for (deg, method), recs in groups.items():
        seconds = sum(r.seconds for r in recs)
        frames = sum(r.frames for r in recs)
        peaks = [max(r.peak_rss_mb, r.peak_cuda_mb or 0.0) for r in recs]
        out.append(
            Summary(
                degradation=deg,
                method=method,
                psnr=_mean([v for r in recs for v in r.psnr]),
                ssim=_mean([v for r in recs for v in r.ssim]),
                warp=1e3 * _mean([v for r in recs for v in r.warp]),
                tof=_mean([v for r in recs for v in r.tof]) if all(r.tof is not None for r in recs) else None,
                fdiff=1e2 * _mean([v for r in recs for v in r.fdiff]),
                fps=float("nan") if method == "input" else (frames / seconds if seconds > 0 else float("inf")),
                peak_mb=max(peaks),
                clips=len(recs),
            )
        )
    return out


def _fmt(value: float | None, pattern: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if math.isinf(value):
        return "∞"
    return pattern.format(value)


def markdown_table(summaries: list[Summary]) -> str:
    """The summary as one Markdown table; the best PSNR of each degradation in bold."""
    best = {}
    for s in summaries:
        if math.isfinite(s.psnr):
            best[s.degradation] = max(best.get(s.degradation, -math.inf), s.psnr)
    header = "| degradation | method | " + " | ".join(c[0] for c in COLUMNS) + " |"
    lines = [header, "|" + "---|" * (len(COLUMNS) + 2)]
    for s in summaries:
        cells = []
        for _, key, pattern in COLUMNS:
            text = _fmt(getattr(s, key), pattern)
            if key == "psnr" and best.get(s.degradation) == s.psnr:
                text = f"**{text}**"
            cells.append(text)
        lines.append(f"| {s.degradation} | {s.method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_clip_table(results: EvalResults) -> str:
    """Mean PSNR of every (degradation, clip) for every method: a mean over clips can hide one clip
    that a method damages. The best of each row in bold."""
    methods = list(dict.fromkeys(r.method for r in results.records))
    rows: dict[tuple[str, str], dict[str, float]] = {}
    for r in results.records:
        rows.setdefault((r.degradation, r.clip), {})[r.method] = _mean(r.psnr)
    lines = ["| degradation | clip | " + " | ".join(methods) + " |", "|" + "---|" * (len(methods) + 2)]
    degs = list(dict.fromkeys(deg for deg, _ in rows))
    for (deg, clip), values in sorted(rows.items(), key=lambda kv: degs.index(kv[0][0])):
        best = max((v for v in values.values() if math.isfinite(v)), default=None)
        cells = [_fmt(values.get(m), "{:.2f}") for m in methods]
        cells = [f"**{c}**" if best is not None and values.get(m) == best else c for c, m in zip(cells, methods)]
        lines.append(f"| {deg} | {clip} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_report(results: EvalResults, title: str = "vidrestore eval") -> str:
    """The whole ``report.md``: table, metric definitions, parameters, notes."""
    cfg = results.config
    summaries = summarize(results)
    size = cfg.get("size")
    parts = [
        f"# {title}",
        "",
        f"Sources ({len(cfg.get('sources_used', []))}): {', '.join(cfg.get('sources_used', []))}; "
        f"{cfg.get('frames')} frames per clip"
        + (f", {size[1]}x{size[0]}" if size else "")
        + (f", downscaled ×1/{cfg.get('downscale')}" if cfg.get("downscale", 1) > 1 else "")
        + f"; degradations: {', '.join(cfg.get('degradations', []))}; seed {cfg.get('seed')}.",
        "",
        markdown_table(summaries),
        "",
        "PSNR/SSIM: RGB, per frame, mean over frames and clips. warp: occlusion-masked warping error (MSE between "
        "output frame t and output frame t-1 warped by the optical flow of the clean frames), ×10³. tOF: mean "
        "end-point distance (px) between the flow of the output and of the clean frames. Δ-err: "
        "mean |Δout − Δclean| of consecutive frame differences, ×10². fps: frames per second of the method alone "
        "(this machine; not given for the input); peak MB: peak resident (or CUDA) memory above the level before the call.",
    ]
    if len({r.clip for r in results.records}) > 1:
        parts += ["", "## PSNR per clip (dB)", "", per_clip_table(results)]
    if results.clean_warp:
        floor = sum(results.clean_warp.values()) / len(results.clean_warp)
        parts += ["", f"Warp error of the clean frames themselves (the floor set by flow errors): {1e3 * floor:.3f} ×10⁻³."]
    tuned = sorted(set(results.tuned.items()))
    if tuned:
        parts += ["", "## Parameters", ""] + [f"- {key}: `{value}`" for key, value in tuned]
    if results.unavailable:
        parts += ["", "## Not run", ""] + [f"- {name}: {why}" for name, why in sorted(results.unavailable.items())]
    if results.notes:
        parts += ["", "## Notes", ""] + [f"- {n}" for n in results.notes]
    return "\n".join(parts) + "\n"


def plot(results: EvalResults, out_dir: Path) -> list[Path]:
    """Write the PNG plots; returns the paths written (empty without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        results.notes.append("Plots skipped: matplotlib is not installed.")
        return []
    degs = list(dict.fromkeys(r.degradation for r in results.records))
    methods = list(dict.fromkeys(r.method for r in results.records))
    written = []

    fig, axes = plt.subplots(1, len(degs), figsize=(5 * len(degs), 3.6), squeeze=False)
    for ax, d in zip(axes[0], degs):
        for m in methods:
            recs = [r for r in results.records if r.degradation == d and r.method == m]
            t = min(len(r.psnr) for r in recs)
            curve = [_mean([r.psnr[i] for r in recs]) for i in range(t)]
            curve = [v if math.isfinite(v) else float("nan") for v in curve]
            ax.plot(range(t), curve, marker=".", label=m)
        ax.set_title(d)
        ax.set_xlabel("frame")
        ax.set_ylabel("PSNR (dB)")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8, loc="best")
    fig.tight_layout()
    path = out_dir / "per_frame_psnr.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)

    summaries = summarize(results)
    fig, axes = plt.subplots(1, len(degs), figsize=(5 * len(degs), 3.6), squeeze=False)
    for ax, d in zip(axes[0], degs):
        for s in (s for s in summaries if s.degradation == d):
            if s.method == "input":  # no speed: a reference line
                ax.axhline(s.psnr, color="gray", linestyle="--", linewidth=1, label="input")
                continue
            fps = s.fps if math.isfinite(s.fps) else 1e4
            ax.scatter([fps], [s.psnr if math.isfinite(s.psnr) else float("nan")])
            ax.annotate(s.method, (fps, s.psnr), fontsize=8, xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_title(d)
        ax.set_xlabel("frames / s (log)")
        ax.set_ylabel("PSNR (dB)")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path = out_dir / "quality_vs_fps.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)
    return written


def write_report(results: EvalResults, out_dir: str | Path, title: str = "vidrestore eval") -> Path:
    """Write report.md, results.json and the plots into ``out_dir``; returns the report path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot(results, out_dir)
    (out_dir / "results.json").write_text(json.dumps(results.to_json(), indent=1, default=str))
    report = out_dir / "report.md"
    report.write_text(markdown_report(results, title))
    return report
