"""Evaluation data: clean clips from photos or videos, and their degraded versions.

* A **photo** becomes a short clip by smooth synthetic camera motion
  (:func:`vidrestore.synth.motion.moving_clip`) with a fixed seed.
* A **video** gives its first ``frames`` frames (optionally downscaled, which
  also makes compressed sources cleaner, then centre-cropped).
* Each clean clip is degraded by named presets of
  :mod:`vidrestore.synth.degradations` with fixed seeds, so every method sees
  exactly the same degraded frames and runs are reproducible.

Clips are float32 ``(T, 3, H, W)`` tensors in ``[0, 1]``.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from vidrestore.errors import InputError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".avi", ".webm", ".y4m", ".m4v", ".ts", ".mpg", ".mpeg"}

DegradeFn = Callable[[torch.Tensor, str, int], torch.Tensor]


@dataclass
class ClipInfo:
    """What a method may know about the clip it restores.

    ``sigma`` is the true noise level in ``[0, 1]`` units: the preset's σ for
    ``awgnNN`` presets, else the RMS of the degradation residual (an oracle
    strength for compression/real-world presets, used by σ-driven peers).
    """

    name: str
    degradation: str
    sigma: float | None
    fps: float = 25.0
    extra: dict = field(default_factory=dict)


@dataclass
class EvalClip:
    """One evaluation case: the clean clip, its degraded version and :class:`ClipInfo`."""

    clean: torch.Tensor
    degraded: torch.Tensor
    info: ClipInfo


def parse_size(text: str | None) -> tuple[int, int] | None:
    """``"256x192"`` (width x height) -> ``(192, 256)`` as (h, w); ``None``/empty -> ``None``."""
    if not text:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*[x×]\s*(\d+)\s*", text)
    if not m:
        raise InputError(f"bad size {text!r}: expected WIDTHxHEIGHT, e.g. 256x192")
    w, h = int(m.group(1)), int(m.group(2))
    if w < 8 or h < 8:
        raise InputError(f"size {text!r} is too small (at least 8x8)")
    return h, w


def find_sources(paths: list[str | Path]) -> list[Path]:
    """Media files named by ``paths`` (files, or folders scanned non-recursively), sorted by name."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
        elif p.is_file():
            found.append(p)
        else:
            raise InputError(f"no such file or folder: {p}")
    if not found:
        raise InputError(f"no images or videos found in {', '.join(map(str, paths))}")
    return found


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _to_tensor(rgb) -> torch.Tensor:
    """(H,W,3) uint8 ndarray -> (3,H,W) float32 in [0,1]."""
    return torch.from_numpy(rgb).permute(2, 0, 1).float().div_(255.0)


def load_image(path: Path) -> torch.Tensor:
    """Decode a photo with PyAV -> (3,H,W) float32 RGB in [0,1]."""
    import av

    try:
        with av.open(str(path)) as container:
            frame = next(container.decode(video=0))
            return _to_tensor(frame.to_ndarray(format="rgb24"))
    except (av.FFmpegError, StopIteration) as e:
        raise InputError(f"cannot read image {path}: {e}") from None


def load_video(path: Path, frames: int) -> tuple[torch.Tensor, float]:
    """First ``frames`` frames of a video with PyAV -> ((T,3,H,W) float32, fps)."""
    import av

    out = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or 25)
            for frame in container.decode(stream):
                out.append(_to_tensor(frame.to_ndarray(format="rgb24")))
                if len(out) >= frames:
                    break
    except (av.FFmpegError, IndexError) as e:
        raise InputError(f"cannot read video {path}: {e}") from None
    if len(out) < 2:
        raise InputError(f"video {path} has fewer than 2 frames")
    return torch.stack(out), fps


def downscale(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Area downscale of (...,3,H,W) by an integer factor (a no-op for 1)."""
    if factor <= 1:
        return x
    lead = x.shape[:-3]
    y = F.interpolate(x.reshape(-1, *x.shape[-3:]), scale_factor=1 / factor, mode="area")
    return y.reshape(*lead, *y.shape[-3:])


def center_crop(x: torch.Tensor, size: tuple[int, int] | None) -> torch.Tensor:
    """Centre crop of (...,H,W) to (h, w); errors when the source is smaller."""
    if size is None:
        return x
    h, w = size
    H, W = x.shape[-2:]
    if h > H or w > W:
        raise InputError(f"crop {w}x{h} is larger than the source {W}x{H}")
    top, left = (H - h) // 2, (W - w) // 2
    return x[..., top : top + h, left : left + w]


def stable_seed(*parts: object) -> int:
    """A seed that depends only on ``parts`` (not on Python's hash randomisation)."""
    return zlib.crc32("/".join(map(str, parts)).encode()) & 0x7FFFFFFF


def clean_clip(
    path: Path, frames: int, size: tuple[int, int] | None = None, factor: int = 1, seed: int = 0
) -> tuple[torch.Tensor, float]:
    """Clean clip (T,3,h,w) and its fps from a photo (synthetic motion) or a video."""
    if is_image(path):
        from vidrestore.synth.motion import moving_clip

        image = downscale(load_image(path), factor)
        H, W = image.shape[-2:]
        if size is None:  # leave room for the camera to move
            size = (max(8, (H * 3 // 4) // 2 * 2), max(8, (W * 3 // 4) // 2 * 2))
        if size[0] > H or size[1] > W:
            raise InputError(f"crop {size[1]}x{size[0]} is larger than the photo {path.name} ({W}x{H})")
        gen = torch.Generator().manual_seed(stable_seed("motion", path.name, seed))
        clip = moving_clip(image, frames, size=size, generator=gen)
        return clip.float().clamp(0, 1).contiguous(), 25.0
    video, fps = load_video(path, frames)
    return center_crop(downscale(video, factor), size).contiguous(), fps


def preset_sigma(name: str) -> float | None:
    """The nominal σ in [0,1] units of an ``awgnNN`` preset, else ``None``."""
    m = re.fullmatch(r"awgn(\d+(?:\.\d+)?)", name)
    return float(m.group(1)) / 255.0 if m else None


def default_degrade() -> DegradeFn:
    """:func:`vidrestore.synth.degradations.degrade` (imported lazily)."""
    from vidrestore.synth.degradations import degrade

    return degrade


def check_degradations(names: list[str]) -> None:
    """Raise :class:`InputError` for names that are not presets of the synth module."""
    try:
        from vidrestore.synth.degradations import PRESETS
    except ImportError:  # the synth module is optional for custom degrade functions
        return
    unknown = [n for n in names if n not in PRESETS]
    if unknown:
        raise InputError(f"unknown degradation(s) {', '.join(unknown)}; presets: {', '.join(sorted(PRESETS))}")


def degrade_clip(
    clean: torch.Tensor, name: str, degradation: str, seed: int, fps: float = 25.0, degrade: DegradeFn | None = None
) -> EvalClip:
    """Degrade ``clean`` with preset ``degradation`` (fixed seed) and fill in :class:`ClipInfo`."""
    degrade = degrade or default_degrade()
    degraded = degrade(clean, degradation, stable_seed("degrade", name, degradation, seed))
    degraded = degraded.float().clamp(0, 1).contiguous()
    if degraded.shape != clean.shape:
        raise InputError(f"degradation {degradation!r} changed the clip shape {tuple(clean.shape)} -> {tuple(degraded.shape)}")
    sigma = preset_sigma(degradation)
    if sigma is None:
        sigma = float((degraded - clean).pow(2).mean().sqrt())
    return EvalClip(clean=clean, degraded=degraded, info=ClipInfo(name=name, degradation=degradation, sigma=sigma, fps=fps))
