"""Training datasets: clean clips (gt) from videos or still images, degraded on the fly (lq).

Every item is ``dict(gt=(T,3,h,w), lq=(T,3,h,w), meta=dict)``, float32 in [0, 1].

Determinism: item ``index`` draws all its randomness from generators derived
from ``(seed, index)`` only (``item_generator``), never from global RNG state, the
epoch or the worker id. A trainer that feeds global sample indices (e.g.
``step * batch + i``) therefore gets bit-exact data after a resume, with any
number of workers. ``length`` sets the virtual epoch size; item ``index`` reads
file ``index % n_files`` (single-source datasets) or a weighted random source
(``MixedClips``).

Layout::

    build_dataset(cfg) -> MixedClips([ImageFolderClips | VideoFolderClips, ...], weights,
                                     RandomDegradation(cfg.degradation))
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from kornia.geometry.transform import resize
from omegaconf import DictConfig, OmegaConf
from PIL import Image
from torch.utils.data import Dataset

from vidrestore.errors import ConfigError, InputError
from vidrestore.synth.degradations import RandomDegradation
from vidrestore.synth.motion import moving_clip, moving_objects
from vidrestore.tiling import dihedral

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "DEFAULT_CONFIG",
    "item_generator",
    "list_media",
    "ClipDataset",
    "VideoFolderClips",
    "ImageFolderClips",
    "MixedClips",
    "load_data_config",
    "build_dataset",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts")
DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "data" / "default.yaml"

Degradation = Callable[[torch.Tensor, torch.Generator], tuple[torch.Tensor, dict]]

_GT_STREAM, _LQ_STREAM = 0, 1  # independent random streams: cropping vs degradation


# ----------------------------------------------------------------------------- randomness


def item_generator(seed: int, index: int, stream: int = 0) -> torch.Generator:
    """A torch.Generator that depends only on (seed, index, stream), well mixed."""
    state = np.random.SeedSequence([int(seed), int(index), int(stream)]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & (2**63 - 1))


def _randint(g: torch.Generator, high: int) -> int:
    """An integer in [0, high)."""
    return int(torch.randint(high, (), generator=g).item())


# ----------------------------------------------------------------------------- files


def list_media(root: str | os.PathLike, extensions: Sequence[str], kind: str) -> list[Path]:
    """Sorted media files under ``root`` (recursive) with one of ``extensions``.

    Raises:
        InputError: ``root`` is missing, not a folder, or holds no such files.
    """
    root = Path(root)
    if not root.exists():
        raise InputError(f"{kind} folder not found: {root}")
    if not root.is_dir():
        raise InputError(f"not a folder: {root}")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in extensions)
    if not files:
        raise InputError(f"no {kind} files ({', '.join(extensions)}) found in {root}")
    return files


def _require_readable(files: Sequence[Path], probe: Callable[[Path], Any], root: Path, kind: str) -> None:
    """Raise InputError unless at least one file opens (stops at the first that does)."""
    for path in files:
        try:
            probe(path)
            return
        except Exception:  # noqa: BLE001 - any decoder failure means "unreadable"
            continue
    raise InputError(f"no readable {kind} in {root} ({len(files)} files, none could be opened)")


def _probe_image(path: Path) -> None:
    with Image.open(path) as im:
        im.verify()


def load_image(path: Path) -> torch.Tensor:
    """Read an image file as (3, H, W) float32 RGB in [0, 1]."""
    try:
        with Image.open(path) as im:
            array = np.asarray(im.convert("RGB"))  # (H, W, 3) uint8
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"cannot read image {path}: {exc}") from exc
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 255.0


def _open_video(path: Path):
    """A decord VideoReader (opened per call: readers must not cross worker forks)."""
    import decord  # training-only dependency

    try:
        return decord.VideoReader(str(path), num_threads=1)
    except Exception as exc:  # noqa: BLE001 - decord raises DECORDError / RuntimeError
        raise InputError(f"cannot read video {path}: {exc}") from exc


def _probe_video(path: Path) -> None:
    if len(_open_video(path)) == 0:
        raise InputError(f"video has no frames: {path}")


# ----------------------------------------------------------------------------- spatial ops


def _cover(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Upscale (keeping aspect) so that x (..., H, W) is at least ``size``; no-op if already."""
    h, w = x.shape[-2:]
    scale = max(size[0] / h, size[1] / w)
    if scale <= 1:
        return x
    target = (max(size[0], math.ceil(h * scale)), max(size[1], math.ceil(w * scale)))
    return resize(x, target, interpolation="bicubic").clamp(0, 1)


def _zoom_region(image: torch.Tensor, zoom: tuple[float, float], need: tuple[int, int], g: torch.Generator) -> torch.Tensor:
    """A random region of image (3, H, W) enlarged by s ~ log-uniform(zoom) (bicubic) to about twice
    ``need`` (h, w), room for the camera path and the moving objects: (3, h', w')."""
    lo, hi = zoom
    s = math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * float(torch.rand((), generator=g)))
    H, W = image.shape[-2:]
    h, w = min(H, math.ceil(2 * need[0] / s)), min(W, math.ceil(2 * need[1] / s))
    top, left = _randint(g, H - h + 1), _randint(g, W - w + 1)
    region = image[:, top : top + h, left : left + w]
    if s == 1.0:
        return region
    return resize(region, (max(1, round(h * s)), max(1, round(w * s))), interpolation="bicubic").clamp(0, 1)


def _random_crop(clip: torch.Tensor, size: tuple[int, int], g: torch.Generator) -> torch.Tensor:
    """Same random (h, w) window in every frame of (T, 3, H, W)."""
    clip = _cover(clip, size)
    (big_h, big_w), (h, w) = clip.shape[-2:], size
    top, left = _randint(g, big_h - h + 1), _randint(g, big_w - w + 1)
    return clip[..., top : top + h, left : left + w]


ORIENTATIONS = ("hflip", "dihedral")


def _orientation_count(orientations: str, size: tuple[int, int]) -> int:
    """How many of ``vidrestore.tiling.dihedral``'s orientations (k = 0 .. n-1) the clips draw from.

    ``hflip``: 2, a left-right mirror with probability 1/2 (one draw, as before the option existed).
    ``dihedral``: all 8 flips/transposes, or only the 4 flips if the crop ``size`` is not square
    (a transpose would swap its sides).
    """
    if orientations not in ORIENTATIONS:
        raise ConfigError(f"orientations must be one of {', '.join(ORIENTATIONS)}, got {orientations!r}")
    return 2 if orientations == "hflip" else 8 if size[0] == size[1] else 4


def _random_orientation(x: torch.Tensor, g: torch.Generator, n: int) -> tuple[torch.Tensor, int]:
    """One of the first n orientations of (..., H, W), uniformly, and its index k."""
    k = _randint(g, n)
    return dihedral(x, k), k


def _frame_indices(n_frames: int, frames: int, stride: int, g: torch.Generator) -> tuple[list[int], int]:
    """T frame indices at a random start; stride reduced to fit, ping-pong if the video is too short."""
    if n_frames >= frames:
        stride = max(1, min(stride, (n_frames - 1) // max(frames - 1, 1)))
        start = _randint(g, n_frames - (frames - 1) * stride)
        return [start + i * stride for i in range(frames)], stride
    cycle = list(range(n_frames)) + list(range(n_frames - 2, 0, -1)) or [0]  # 0 1 2 1 0 1 2 ...
    return [cycle[i % len(cycle)] for i in range(frames)], 1


# ----------------------------------------------------------------------------- datasets


class ClipDataset(Dataset):
    """Base: ``__getitem__`` = gt clip from ``make_gt`` + degradation, seeded by (seed, index).

    Subclasses implement ``make_gt(item, generator) -> (gt (T,3,h,w), meta)`` and
    ``num_items`` (distinct source items: files for a folder).
    """

    def __init__(self, frames: int, size: Sequence[int], *, degradation: Degradation | None = None,
                 seed: int = 0, length: int | None = None):
        self.frames, self.size = int(frames), (int(size[0]), int(size[1]))
        self.degradation, self.seed, self.length = degradation, int(seed), length

    @property
    def num_items(self) -> int:
        raise NotImplementedError

    def make_gt(self, item: int, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, Any]]:
        raise NotImplementedError

    def __len__(self) -> int:
        return self.length if self.length is not None else self.num_items

    def __getitem__(self, index: int) -> dict[str, Any]:
        gt, meta = self.make_gt(index % self.num_items, item_generator(self.seed, index, _GT_STREAM))
        gt = gt.contiguous()  # (T, 3, h, w)
        if self.degradation is None:
            lq, info = gt.clone(), {}
        else:
            lq, info = self.degradation(gt, item_generator(self.seed, index, _LQ_STREAM))
        return {"gt": gt, "lq": lq.contiguous(), "meta": {"index": index, **meta, "degradation": info}}


class VideoFolderClips(ClipDataset):
    """T-frame clips from the videos in a folder, read with decord.

    Random temporal stride in ``stride_range`` (inclusive), random start, random
    ``size`` crop (small videos are upscaled first), random horizontal flip.
    """

    def __init__(self, root: str | os.PathLike, frames: int, size: Sequence[int],
                 stride_range: Sequence[int] = (1, 3), orientations: str = "hflip", **kwargs):
        super().__init__(frames, size, **kwargs)
        self.n_orientations = _orientation_count(orientations, self.size)
        self.root = Path(root)
        self.files = list_media(self.root, VIDEO_EXTENSIONS, "video")
        _require_readable(self.files, _probe_video, self.root, "video")
        self.stride_range = (int(stride_range[0]), int(stride_range[1]))

    @property
    def num_items(self) -> int:
        return len(self.files)

    def make_gt(self, item: int, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, Any]]:
        path = self.files[item]
        reader = _open_video(path)
        stride = self.stride_range[0] + _randint(generator, self.stride_range[1] - self.stride_range[0] + 1)
        indices, stride = _frame_indices(len(reader), self.frames, stride, generator)
        try:
            frames = torch.from_numpy(reader.get_batch(indices).asnumpy())  # (T, H, W, 3) uint8
        except Exception as exc:  # noqa: BLE001 - decord errors
            raise InputError(f"cannot decode frames {indices} of {path}: {exc}") from exc
        clip = frames.permute(0, 3, 1, 2).float() / 255.0  # (T, 3, H, W)
        clip, k = _random_orientation(_random_crop(clip, self.size, generator), generator, self.n_orientations)
        return clip, {"kind": "video", "path": str(path), "detail": f"frames {indices[0]}+{stride}k orientation={k}"}


class ImageFolderClips(ClipDataset):
    """T-frame clips from the still images in a folder, animated by ``moving_clip``.

    Random orientation (``orientations``, as in ``VideoFolderClips``), then a smooth random camera
    path (pan/zoom/rotation) whose ``size`` window is placed at a random position inside the image
    (the random crop). Images smaller than ``size`` + 16 px are upscaled first.

    With ``zoom = [lo, hi]`` each clip first enlarges a random region of the image
    by a factor drawn log-uniformly from [lo, hi] (bicubic), so the crop sees
    smoother content with larger flat areas, as in video frames (photos are
    denser in detail than most footage). Its one probe on the shipped chain did not
    pay (training/RUNS.md, "Probe: zoomed training photos").

    Args:
        motion: keyword arguments of ``moving_clip`` (max_shift, max_accel, max_zoom,
            max_rotation_deg, mode), plus ``objects``: keyword arguments of ``moving_objects``
            (p, max_count, max_speed, size), patches of the image moving on their own.
    """

    def __init__(self, root: str | os.PathLike, frames: int, size: Sequence[int],
                 motion: Mapping[str, Any] | None = None, zoom: Sequence[float] | None = None,
                 orientations: str = "hflip", **kwargs):
        super().__init__(frames, size, **kwargs)
        self.n_orientations = _orientation_count(orientations, self.size)
        self.root = Path(root)
        self.files = list_media(self.root, IMAGE_EXTENSIONS, "image")
        _require_readable(self.files, _probe_image, self.root, "image")
        self.motion = dict(motion or {})
        self.objects = dict(self.motion.pop("objects", None) or {"p": 0.0})
        if zoom is not None and (len(zoom) != 2 or not 1.0 <= float(zoom[0]) <= float(zoom[1])):
            raise ConfigError(f"zoom must be [lo, hi] with 1 <= lo <= hi, got {list(zoom)}")
        self.zoom = (float(zoom[0]), float(zoom[1])) if zoom is not None else None

    @property
    def num_items(self) -> int:
        return len(self.files)

    def make_gt(self, item: int, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, Any]]:
        path = self.files[item]
        image = load_image(path)
        if self.zoom is not None:
            image = _zoom_region(image, self.zoom, (self.size[0] + 16, self.size[1] + 16), generator)
        image = _cover(image, (self.size[0] + 16, self.size[1] + 16))  # (3, H, W)
        image, k = _random_orientation(image, generator, self.n_orientations)
        clip = moving_clip(image, self.frames, self.size, generator, **self.motion)  # (T, 3, h, w)
        clip = moving_objects(clip, image, generator, **self.objects)  # (T, 3, h, w)
        return clip, {"kind": "images", "path": str(path), "detail": f"orientation={k}"}


class MixedClips(ClipDataset):
    """Weighted mixture of clip sources, degraded by one shared degradation.

    Item ``index`` picks a source with probability proportional to its weight and
    a random item of that source, both from the (seed, index) generator; the
    sources' own ``degradation``/``seed``/``length`` are ignored.
    """

    def __init__(self, sources: Sequence[ClipDataset], weights: Sequence[float] | None = None, **kwargs):
        if not sources:
            raise ConfigError("MixedClips needs at least one source")
        first = sources[0]
        super().__init__(first.frames, first.size, **kwargs)
        self.sources = list(sources)
        self.weights = torch.tensor(list(weights) if weights is not None else [1.0] * len(sources), dtype=torch.float)
        if len(self.weights) != len(self.sources) or bool((self.weights < 0).any()) or self.weights.sum() <= 0:
            raise ConfigError(f"bad source weights {self.weights.tolist()} for {len(self.sources)} sources")
        if any((s.frames, s.size) != (self.frames, self.size) for s in self.sources):
            raise ConfigError("all sources of a MixedClips must share frames and size")

    @property
    def num_items(self) -> int:
        return sum(s.num_items for s in self.sources)

    def make_gt(self, item: int, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, Any]]:
        source = self.sources[int(torch.multinomial(self.weights, 1, generator=generator).item())]
        return source.make_gt(_randint(generator, source.num_items), generator)


# ----------------------------------------------------------------------------- config


def load_data_config(path: str | os.PathLike | None = None, overrides: Sequence[str] = ()) -> DictConfig:
    """Load a data config (default: configs/data/default.yaml) plus dotlist overrides (``size=[64,64]``)."""
    path = Path(path) if path is not None else DEFAULT_CONFIG
    if not path.is_file():
        raise ConfigError(f"data config not found: {path}")
    try:
        return OmegaConf.merge(OmegaConf.load(path), OmegaConf.from_dotlist(list(overrides)))
    except Exception as exc:  # noqa: BLE001 - yaml / omegaconf errors
        raise ConfigError(f"invalid data config {path}: {exc}") from exc


def _source_dataset(src: Mapping, root: Path, cfg: DictConfig) -> ClipDataset:
    """One ``{path, kind, weight, [stride_range], [motion]}`` entry -> dataset."""
    path = Path(src["path"])
    path = path if path.is_absolute() else root / path
    common = {"frames": cfg.frames, "size": list(cfg.size), "orientations": str(cfg.get("orientations", "hflip"))}
    if src["kind"] == "video":
        return VideoFolderClips(path, stride_range=list(src.get("stride_range", cfg.video.stride_range)), **common)
    if src["kind"] == "images":
        motion = OmegaConf.to_container(OmegaConf.merge(cfg.motion, src.get("motion", {})))
        zoom = src.get("zoom")
        return ImageFolderClips(path, motion=motion, zoom=list(zoom) if zoom is not None else None, **common)
    raise ConfigError(f"unknown source kind {src['kind']!r} for {path}: use 'video' or 'images'")


def build_dataset(cfg: DictConfig | Mapping, split: str = "train", base_dir: str | os.PathLike | None = None) -> MixedClips:
    """Dataset for ``cfg[split]`` (list of sources) with the ``cfg.degradation`` chain.

    Relative source paths resolve against ``cfg.root``, itself relative to
    ``base_dir`` (default: the current directory).
    """
    cfg = cfg if isinstance(cfg, DictConfig) else OmegaConf.create(dict(cfg))
    sources = cfg.get(split)
    if not sources:
        raise ConfigError(f"data config has no sources for split {split!r}")
    root = Path(base_dir or Path.cwd()) / str(cfg.get("root", "."))
    datasets = [_source_dataset(src, root, cfg) for src in sources]
    return MixedClips(
        datasets,
        [float(src.get("weight", 1.0)) for src in sources],
        degradation=RandomDegradation(cfg.get("degradation")),
        seed=int(cfg.get("seed", 0)),
        length=cfg.get("samples_per_epoch"),
    )
