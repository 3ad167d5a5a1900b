"""Loading a :class:`~vidrestore.restorer.Restorer` for the filter and running it from VS threads."""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import vapoursynth as vs

PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class RuntimeOptions:
    """Restorer runtime keywords as given to :func:`vsvidrestore.restore` (None = model default)."""

    device: str = "auto"
    precision: str | None = None
    tile: int | None = None
    tile_overlap: int | None = None
    window: int | None = None
    steps: int | None = None
    seed: int = 0
    ensemble: int | None = None
    refine: float | None = None
    temporal_mean: float | None = None

    def is_default(self) -> bool:
        return self == RuntimeOptions()

    def restorer_kwargs(self, device: str, precision: str) -> dict[str, Any]:
        kwargs = {"device": device, "precision": precision, "seed": self.seed}
        for name in ("tile", "tile_overlap", "window", "steps", "ensemble", "refine", "temporal_mean"):
            value = getattr(self, name)
            if value is not None:
                kwargs[name] = value
        return kwargs


def is_restorer(model: object) -> bool:
    """Duck-typed check for a ready Restorer instance (``restore``, ``context``, ``window``)."""
    return all(hasattr(model, name) for name in ("restore", "context", "window")) and not isinstance(model, (str, os.PathLike))


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` if available else ``"cpu"``; raise ``vs.Error`` for unusable devices."""
    import torch

    if not isinstance(device, str):
        raise vs.Error(f"vidrestore: device must be a string such as 'auto', 'cpu' or 'cuda:0', got {device!r}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise vs.Error(f"vidrestore: unknown device '{device}' (use auto, cpu, cuda or cuda:N)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise vs.Error(f"vidrestore: device '{device}' requested but CUDA is not available on this machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise vs.Error(f"vidrestore: device '{device}' does not exist ({torch.cuda.device_count()} CUDA device(s))")
    elif dev.type != "cpu":
        raise vs.Error(f"vidrestore: device '{device}' is not supported (use auto, cpu, cuda or cuda:N)")
    return device


def resolve_precision(precision: str | None, device: str, half_io: bool) -> str:
    """Pick the model precision.

    Unset or "auto": fp16 for half-float clips on a GPU, else what `vidrestore run` picks (bf16 on a
    CPU with native bf16, fp32 otherwise: `restorer.default_precision`). fp16 is not usable on the
    CPU, so it falls back to that there (with a warning when it was asked for).
    """
    import torch

    from vidrestore.restorer import default_precision

    auto = default_precision(torch.device(device))
    if precision in (None, "auto"):
        precision = "fp16" if half_io else auto
    elif precision not in PRECISIONS:
        raise vs.Error(f"vidrestore: precision must be auto or one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp16" and not device.startswith("cuda"):
        if not half_io:
            warnings.warn(f"vidrestore: fp16 is not usable on the CPU; running in {auto}", stacklevel=3)
        precision = auto
    return precision


_LOADED: dict[tuple, Any] = {}
_LOADED_LOCK = threading.Lock()


def load_restorer(model: Any, options: RuntimeOptions, *, half_io: bool) -> Any:
    """A Restorer for ``model`` ("default", a .safetensors path, or a Restorer instance).

    Loaded models are shared between calls with the same arguments, so a script that
    calls :func:`restore` twice holds the weights once. Every problem the user can fix
    is raised as ``vs.Error("vidrestore: ...")``.
    """
    if is_restorer(model):
        if not options.is_default():
            raise vs.Error("vidrestore: device/precision/tile/window/steps/seed/ensemble/refine/temporal_mean cannot be changed on a Restorer "
                           "instance; set them when creating it (Restorer.from_pretrained(..., tile=...))")
        return model
    if not isinstance(model, (str, os.PathLike)):
        raise vs.Error(f"vidrestore: model must be 'default', a path to a .safetensors file or a Restorer, got {model!r}")
    device = resolve_device(options.device)
    precision = resolve_precision(options.precision, device, half_io)
    kwargs = options.restorer_kwargs(device, precision)
    key = (os.fspath(model), tuple(sorted(kwargs.items())))
    with _LOADED_LOCK:
        if key not in _LOADED:
            _LOADED[key] = _from_pretrained(model, kwargs)
        return _LOADED[key]


def _from_pretrained(model: str | os.PathLike, kwargs: dict[str, Any]) -> Any:
    from vidrestore.errors import VidrestoreError
    from vidrestore.restorer import Restorer

    try:
        return Restorer.from_pretrained(model, **kwargs)
    except VidrestoreError as e:
        raise vs.Error(f"vidrestore: {e}") from None


class ModelRunner:
    """Runs ``restorer.restore`` from VapourSynth worker threads, at most ``num_streams`` at once.

    On CUDA each concurrent call gets its own CUDA stream. The first call runs alone
    (the Restorer prepares its modules for inference on first use).
    """

    def __init__(self, restorer: Any, num_streams: int) -> None:
        self.restorer = restorer
        self._slots: queue.Queue = queue.Queue()
        for stream in self._make_streams(num_streams):
            self._slots.put(stream)
        self._first = threading.Lock()
        self._warm = False

    def _make_streams(self, n: int) -> list:
        device = str(getattr(self.restorer, "device", "cpu"))
        if n > 1 and device.startswith("cuda"):
            import torch

            return [torch.cuda.Stream(device=device) for _ in range(n)]
        return [None] * n

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """float32 (T,3,H,W) -> float32 (T,3,H,W) in [0,1]; input is clamped to [0,1] first
        (YUV -> RGB conversion of real video overshoots slightly)."""
        import torch

        frames = np.clip(frames, 0.0, 1.0)
        stream = self._slots.get()
        try:
            with self._first if not self._warm else contextlib.nullcontext():
                ctx = torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext()
                with ctx:
                    out = self.restorer.restore(torch.from_numpy(frames))
                self._warm = True
        finally:
            self._slots.put(stream)
        out = out.numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
        return np.clip(out, 0.0, 1.0, out=out) if out.dtype == np.float32 else np.clip(out, 0, 1).astype(np.float32)
