"""`Restorer`: the one entry point every front end uses (CLI pipeline, VapourSynth filter, eval).

    frames (T,3,H,W) in [0,1]
      -> pad H,W to multiples of 32 (reflect)
      -> temporal windows of `window` frames (overlap `window_overlap`; each half of an overlap from one window)
         -> spatial tiles of `tile` px (overlap `tile_overlap`, feathered)
            -> RestorationChain: LP-VAE encode -> DiT flow sampling -> temporal pixel-aware decode
               (`ensemble` > 1: once per flip/transpose of the tile, the outputs turned back and averaged)
      -> crop, clamp -> guided refinement of each frame against its degraded input (`refine` > 0; models/refine.py)
      -> temporal mean: each frame averaged with its neighbours t-r..t+r warped onto it (`temporal_mean` > 0;
         models/refine_temporal.py)
      -> (T,3,H,W) float32 on the CPU in [0,1]

`restore` takes a clip in memory; `stream` gives the same frames, bit for bit, over a stream of any
length (the video pipeline: one stream per shot), holding only about two windows of frames.
"""

from __future__ import annotations

import contextlib
import os

import torch

from vidrestore import weights_io as W
from vidrestore.config import ENSEMBLES, FACTOR, LATENT_CH, load_model_config
from vidrestore.errors import ConfigError, InputError, WeightsError
from vidrestore.models.chain import RestorationChain
from vidrestore.models.layers import deploy_all
from vidrestore.models.refine import guided_refine, setting_problems
from vidrestore.models.align import MATCH_SCALES
from vidrestore.models.refine_temporal import MAX_RADIUS, TemporalMeanStream
from vidrestore.tiling import WindowStream, dihedral, pad_to_multiple, tiled

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def native_bf16_cpu() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX512-BF16 or AMX): there bf16 autocast runs the
    convolutions ~1.3x faster than fp32 (v0.40 on a 2-core AMD EPYC); elsewhere oneDNN emulates bf16 and it is slower."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):  # private API: treat a torch without it as "no"
        return False


def default_precision(device: torch.device) -> str:
    """The precision `precision=None`/"auto" picks: bf16 on a CPU with native bf16 (shipped model: within 0.012 dB
    of fp32 on the harness frames; benchmarks/RESULTS.md), fp32 otherwise (GPUs included)."""
    return "bf16" if device.type == "cpu" and native_bf16_cpu() else "fp32"


def self_ensemble(fn, frames: torch.Tensor, noise: torch.Tensor, n: int) -> torch.Tensor:
    """Geometric self-ensemble: the mean of fn over the first n of the 8 flips/transposes of the frames
    (and of the noise map with them), each output turned back first. n = 1 is fn itself; n = 8 makes the
    result equivariant to every flip and transpose. Costs n times the time of fn."""
    total = None
    for k in range(n):
        out = dihedral(fn(dihedral(frames, k), dihedral(noise, k)), k, inverse=True)
        total = out if total is None else total + out
    return total / n


def pick_device(device: str | torch.device = "auto") -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"unknown device '{device}' (use auto, cpu, cuda or cuda:N)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device '{device}' requested but CUDA is not available on this machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"device '{device}' does not exist ({torch.cuda.device_count()} CUDA device(s))")
    return dev


class Restorer:
    def __init__(self, chain: RestorationChain, cfg, *, device="auto", precision=None, tile=None, tile_overlap=None,
                 window=None, window_overlap=None, steps=None, seed=None, ensemble=None, refine=None,
                 temporal_mean=None):
        inf = cfg.inference
        self.cfg = cfg
        self.device = pick_device(device)
        self.precision = default_precision(self.device) if precision in (None, "auto") else precision
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be auto or one of {', '.join(PRECISIONS)}, got '{precision}'")
        if self.precision == "fp16" and self.device.type == "cpu":
            raise ConfigError("fp16 needs a GPU; on the CPU use fp32 or bf16")
        self.tile = int(tile if tile is not None else inf.tile)
        # unset overlap: the config's, but never more than half a tile (rounded to the latent grid)
        self.tile_overlap = int(tile_overlap) if tile_overlap is not None else min(inf.tile_overlap, self.tile // 2 // FACTOR * FACTOR)
        self.window = int(window if window is not None else inf.window)
        self.window_overlap = int(window_overlap) if window_overlap is not None else min(inf.window_overlap, self.window // 2)
        self.steps = int(steps if steps is not None else inf.steps)
        self.seed = int(seed if seed is not None else inf.seed)
        self.ensemble = int(ensemble if ensemble is not None else inf.ensemble)
        self.refine = float(refine if refine is not None else inf.refine)
        self.refine_kernel, self.refine_passes = int(inf.refine_kernel), int(inf.refine_passes)
        self.refine_detail, self.refine_detail_kernel = float(inf.refine_detail), int(inf.refine_detail_kernel)
        self.temporal_mean = float(temporal_mean if temporal_mean is not None else inf.temporal_mean)
        self.temporal_mean_radius = int(inf.temporal_mean_radius)
        self.temporal_mean_match_scale = int(inf.temporal_mean_match_scale)
        self._validate()
        self.chain = chain.eval().to(self.device)
        self._deployed = False

    def _validate(self):
        if self.tile < FACTOR or self.tile % FACTOR:
            raise ConfigError(f"tile must be a positive multiple of {FACTOR} pixels, got {self.tile}")
        if self.tile_overlap < 0 or self.tile_overlap % FACTOR or self.tile_overlap >= self.tile:
            raise ConfigError(f"tile overlap must be a multiple of {FACTOR} smaller than the tile, got {self.tile_overlap}")
        if self.window < 1:
            raise ConfigError(f"window must be >= 1 frame, got {self.window}")
        if not 0 <= self.window_overlap < self.window:
            raise ConfigError(f"window overlap must be in [0, window), got {self.window_overlap}")
        if not 1 <= self.steps <= 1000:
            raise ConfigError(f"steps must be in [1, 1000], got {self.steps}")
        if self.ensemble not in ENSEMBLES:
            raise ConfigError(f"ensemble must be one of {', '.join(map(str, ENSEMBLES))} (flips/transposes averaged), got {self.ensemble}")
        if not 0 <= self.refine <= 10:
            raise ConfigError(f"refine strength must be in [0, 10] (0 = off), got {self.refine}")
        if problems := setting_problems(self.refine_kernel, self.refine_passes, self.refine_detail, self.refine_detail_kernel):
            key, what = problems[0]
            raise ConfigError(f"inference.{key} {what}")
        if not 0 <= self.temporal_mean <= 1:
            raise ConfigError(f"temporal mean strength must be in [0, 1] (0 = off), got {self.temporal_mean}")
        if not 1 <= self.temporal_mean_radius <= MAX_RADIUS:
            raise ConfigError(f"inference.temporal_mean_radius must be in [1, {MAX_RADIUS}], got {self.temporal_mean_radius}")
        if self.temporal_mean_match_scale not in MATCH_SCALES:
            raise ConfigError(f"inference.temporal_mean_match_scale must be one of {', '.join(map(str, MATCH_SCALES))}, "
                              f"got {self.temporal_mean_match_scale}")

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def from_config(cls, cfg="tiny", overrides: list[str] | None = None, **runtime) -> "Restorer":
        """Randomly initialised chain (for training and tests; never presented as a restoration)."""
        cfg = load_model_config(cfg, overrides)
        return cls(RestorationChain(cfg), cfg, **runtime)

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike = "default", allow_untrained: bool = False, **runtime) -> "Restorer":
        path = W.resolve(name_or_path)
        state, cfg, meta = W.load(path)
        if meta.get("trained") != "true" and not allow_untrained:
            raise WeightsError(f"{path} holds untrained (randomly initialised) weights; refusing to use them for restoration")
        chain = RestorationChain(cfg)
        missing, unexpected = chain.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise WeightsError(f"{path} does not match the model code: missing {missing[:5]}, unexpected {unexpected[:5]}")
        r = cls(chain, cfg, **runtime)
        r.metadata = meta
        return r

    def save(self, path, trained: bool = False, **meta) -> None:
        if self._deployed:
            raise RuntimeError("save() must be called before restore(): the chain is fused for inference")
        W.save(path, self.chain.state_dict(), self.cfg, trained=trained, **meta)

    # --- inference ----------------------------------------------------------------------------
    @property
    def context(self) -> int:
        """Frames on each side that can influence a frame's output (they share a temporal window, or are averaged
        into it by the temporal mean, whose neighbours have their own windows)."""
        return min(self.window - 1, self.chain.context) + self.mean_radius

    @property
    def mean_radius(self) -> int:
        """Frames on each side the temporal mean reads (0: off)."""
        return self.temporal_mean_radius if self.temporal_mean > 0 else 0

    def noise(self, h: int, w: int) -> torch.Tensor:
        """The clip's one initial noise map (1,64,h,w): a function of seed and size only."""
        g = torch.Generator().manual_seed(self.seed)
        return torch.randn(1, LATENT_CH, h, w, generator=g)

    def _autocast(self):
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=PRECISIONS[self.precision])

    def restore(self, frames: torch.Tensor) -> torch.Tensor:
        """frames: float (T,3,H,W) in [0,1], T>=1, H,W>=1 -> float32 CPU tensor of the same shape."""
        if not isinstance(frames, torch.Tensor) or frames.ndim != 4 or frames.shape[1] != 3 or 0 in frames.shape:
            raise InputError(f"expected frames shaped (T, 3, H, W) with T, H, W >= 1, got {tuple(getattr(frames, 'shape', ()))}")
        stream = self.stream()
        return torch.stack([o for frame in frames for o in stream.push(frame)] + stream.close())

    def stream(self, skip_before: int = 0, on_window=None) -> "RestoreStream":
        """A clip restored frame by frame as it arrives (see RestoreStream); frames at positions below
        `skip_before` are read as context only (their outputs come back as None)."""
        return RestoreStream(self, skip_before, on_window)

    def _setup(self) -> None:
        if not self._deployed:
            deploy_all(self.chain)
            self._deployed = True

    @torch.no_grad()
    def _run_window(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """One temporal window, padded: (t,3,H',W') -> (t,3,H',W') float32 CPU, tiled in space."""
        def run_chain(f: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
            with self._autocast():
                return self.chain(f.to(self.device), n.to(self.device), self.steps).float()

        def run_tile(f: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
            return self_ensemble(run_chain, f, n, self.ensemble)

        return tiled(run_tile, x, noise, self.tile, self.tile_overlap, FACTOR)


class RestoreStream:
    """`Restorer.restore` of a clip pushed one frame at a time: `push(frame)` returns the restored frames
    that are final by now, `close()` the rest, all in order. The temporal windows are those `restore`
    would use on the whole clip (windows anchored at its first frame, the last one aligned to its end),
    so the frames equal `restore(whole clip)` bit for bit while memory stays flat in the clip's length."""

    def __init__(self, restorer: Restorer, skip_before: int = 0, on_window=None):
        self.r = restorer
        self.size: tuple[int, int] | None = None
        self.noise: torch.Tensor | None = None
        R = restorer.mean_radius  # the temporal mean of frame `skip_before` reads R restored frames before it
        self.windows = WindowStream(self._window, restorer.window, restorer.window_overlap, max(0, skip_before - R), on_window)
        self.mean = (TemporalMeanStream(restorer.temporal_mean, R, restorer.device, skip_before,
                                        match_scale=restorer.temporal_mean_match_scale) if R else None)

    def _window(self, x: torch.Tensor) -> torch.Tensor:
        return self.r._run_window(x, self.noise)

    def push(self, frame: torch.Tensor) -> list[torch.Tensor | None]:
        """frame: float (3,H,W) in [0,1], every frame of the clip the same size."""
        if not isinstance(frame, torch.Tensor) or frame.ndim != 3 or frame.shape[0] != 3 or 0 in frame.shape:
            raise InputError(f"expected a frame shaped (3, H, W) with H, W >= 1, got {tuple(getattr(frame, 'shape', ()))}")
        if self.size is None:
            self.r._setup()
            self.size = tuple(frame.shape[-2:])
        elif tuple(frame.shape[-2:]) != self.size:
            raise InputError(f"frame size changed within a clip: {tuple(frame.shape[-2:])} after {self.size}")
        x, _ = pad_to_multiple(frame.float().cpu(), FACTOR)
        if self.noise is None:
            self.noise = self.r.noise(x.shape[-2] // FACTOR, x.shape[-1] // FACTOR)
        return self._finish(self.windows.push(x))

    def close(self) -> list[torch.Tensor | None]:
        return self._finish(self.windows.close(), closing=True)

    def _finish(self, outs: list[torch.Tensor | None], closing: bool = False) -> list[torch.Tensor | None]:
        H, W = self.size or (0, 0)
        done = []
        for o, x in zip(outs, self.windows.emitted_inputs, strict=True):  # x: the (padded) degraded frame of o
            x = x[:, :H, :W]
            if o is not None:
                o = o[..., :H, :W].clamp(0, 1)
                if self.r.refine > 0:  # on the model's device (a GPU does the 3x3 solves per pixel far faster)
                    dev = self.r.device
                    o = guided_refine(o[None].to(dev), x[None].to(dev), self.r.refine, self.r.refine_kernel,
                                      self.r.refine_passes, self.r.refine_detail,
                                      self.r.refine_detail_kernel)[0].clamp(0, 1)
            if self.mean is None:
                done.append(o if o is None else o.cpu())
            else:  # final r frames later (close: at once); the refined frames wait on the model's device
                done.extend(self.mean.push(o, x))
        if closing and self.mean is not None:
            done.extend(self.mean.close())
        return done
