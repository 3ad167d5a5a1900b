"""Synthetic video degradations: sensor noise, optics, scaling, compression.

Every function takes and returns a clip ``(T, 3, H, W)`` float32 tensor in [0, 1]
(CPU) and keeps its shape. Randomness comes only from an explicit
``torch.Generator`` so that a (seed, index) pair always gives the same clip.

Three layers, read top to bottom:

1. single degradations (``gaussian_noise``, ``gaussian_blur``, ``codec_roundtrip`` ...);
   per-frame randomness where physics says so (sensor noise), one setting for the
   whole clip otherwise (blur kernel, scale, JPEG quality, codec settings);
2. ``RandomDegradation``: the blind training chain
   blur -> down-up scaling -> noise -> codec/JPEG, sampled per clip from a config;
3. ``PRESETS`` / ``degrade(clip, name, seed)``: named, seeded, deterministic
   degradations used by the evaluation harness.

Clamping: outputs are always clamped to [0, 1], AWGN included. Real video is
stored as clamped 8-bit code values, so a model never sees out-of-range noise;
evaluating on unclamped AWGN would measure a situation that does not occur. (This
makes ``awgn50`` slightly easier than the unclamped benchmark numbers in papers.)
"""

from __future__ import annotations

import io
import warnings
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import kornia
import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from vidrestore.errors import ConfigError
from vidrestore.synth.rng import coin, log_uniform, randint, uniform

__all__ = [
    "gaussian_noise",
    "poisson_gaussian_noise",
    "gaussian_blur",
    "motion_blur",
    "down_up",
    "jpeg",
    "codec_roundtrip",
    "RandomDegradation",
    "DEFAULT_DEGRADATION",
    "describe",
    "Preset",
    "PRESETS",
    "degrade",
]


# ----------------------------------------------------------------------------- helpers


def _check_clip(clip: torch.Tensor) -> None:
    """Raise ValueError unless ``clip`` is a float ``(T, 3, H, W)`` tensor."""
    if clip.ndim != 4 or clip.shape[1] != 3 or not clip.is_floating_point():
        raise ValueError(f"expected a float clip (T, 3, H, W), got {tuple(clip.shape)} {clip.dtype}")


def _finish(clip: torch.Tensor) -> torch.Tensor:
    """Common exit: float32, clamped to [0, 1]."""
    return clip.clamp(0.0, 1.0).to(torch.float32)


def _choice(g: torch.Generator, options: list, weights: list[float] | None = None):
    """One element of ``options`` (uniform, or by ``weights``)."""
    w = torch.ones(len(options)) if weights is None else torch.tensor(list(weights), dtype=torch.float)
    return options[int(torch.multinomial(w, 1, generator=g).item())]


# ----------------------------------------------------------------------------- sensor noise


def gaussian_noise(
    clip: torch.Tensor,
    sigma: float,
    generator: torch.Generator,
    *,
    gray: bool = False,
    clamp: bool = True,
) -> torch.Tensor:
    """Additive white Gaussian noise, independent per frame and pixel.

    Args:
        clip: (T, 3, H, W) in [0, 1].
        sigma: standard deviation in 0-255 units (e.g. 25).
        generator: source of randomness.
        gray: same noise on the three channels (luma-only noise), else per channel.
        clamp: clamp the result to [0, 1] (default; see module docstring).
    """
    _check_clip(clip)
    t, _, h, w = clip.shape
    noise = torch.randn((t, 1 if gray else 3, h, w), generator=generator)  # (T, 1|3, H, W)
    out = clip + noise * (sigma / 255.0)
    return _finish(out) if clamp else out.to(torch.float32)


def poisson_gaussian_noise(
    clip: torch.Tensor,
    peak: float,
    read_sigma: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """Signal-dependent sensor noise: Poisson shot noise plus Gaussian read noise.

    ``y = Poisson(peak * x) / peak + N(0, read_sigma)``; the shot-noise std at
    intensity x is ``sqrt(x / peak)`` (so small ``peak`` = low light = heavy noise).

    Args:
        clip: (T, 3, H, W) in [0, 1].
        peak: photon count of a white pixel (e.g. 10 heavy .. 1000 light).
        read_sigma: read-noise std in 0-255 units.
        generator: source of randomness.
    """
    _check_clip(clip)
    shot = torch.poisson(clip.clamp(0, 1) * peak, generator=generator) / peak  # (T, 3, H, W)
    return gaussian_noise(shot, read_sigma, generator)


# ----------------------------------------------------------------------------- optics


def gaussian_blur(clip: torch.Tensor, sigma: float) -> torch.Tensor:
    """Isotropic Gaussian blur, same kernel for every frame (kernel size 2*ceil(3 sigma)+1)."""
    _check_clip(clip)
    if sigma <= 0:
        return clip.clone()
    k = 2 * math.ceil(3 * sigma) + 1
    return _finish(kornia.filters.gaussian_blur2d(clip, (k, k), (sigma, sigma), border_type="reflect"))


def motion_blur(clip: torch.Tensor, kernel_size: int, angle: float, direction: float = 0.0) -> torch.Tensor:
    """Linear camera-shake blur, same kernel for every frame.

    Args:
        kernel_size: odd length of the blur line in pixels (>= 3).
        angle: orientation of the line in degrees.
        direction: -1 .. 1, asymmetry of the kernel along the line (0 = box).
    """
    _check_clip(clip)
    kernel_size = int(kernel_size) | 1  # kornia wants it odd
    return _finish(kornia.filters.motion_blur(clip, kernel_size, float(angle), float(direction), border_type="reflect"))


# ----------------------------------------------------------------------------- scaling


def down_up(clip: torch.Tensor, scale: float, down_mode: str = "area", up_mode: str = "bicubic") -> torch.Tensor:
    """Downscale by ``scale`` (< 1) then upscale back to the input size (detail loss).

    Args:
        scale: factor in (0, 1]; the low-resolution size is ``round(scale * H) x round(scale * W)``.
        down_mode / up_mode: kornia interpolation ('area', 'bilinear', 'bicubic', 'nearest').
    """
    _check_clip(clip)
    _, _, h, w = clip.shape
    small = (max(1, round(h * scale)), max(1, round(w * scale)))
    antialias = down_mode in ("bilinear", "bicubic")
    lr = kornia.geometry.transform.resize(clip, small, interpolation=down_mode, antialias=antialias)
    return _finish(kornia.geometry.transform.resize(lr, (h, w), interpolation=up_mode))


# ----------------------------------------------------------------------------- compression


def jpeg(clip: torch.Tensor, quality: float) -> torch.Tensor:
    """JPEG compression of every frame at one quality (1 worst .. 100 best), via kornia."""
    _check_clip(clip)
    q = torch.tensor([float(quality)], dtype=clip.dtype)
    return _finish(kornia.enhance.jpeg_codec_differentiable(clip.clamp(0, 1), q))


# Smallest frame each encoder handles reliably. libx265 corrupts the heap on some
# frames smaller than one 64x64 CTU (e.g. 40x30) and gives run-to-run different
# output for frames 64 px high, so frames are padded to at least 128x128 for it.
_MIN_SIZE = {"libx264": 2, "libx265": 128}
_OTHER = {"matroska": "mp4", "mp4": "matroska"}
_ALIASES = {"h264": "libx264", "x264": "libx264", "h265": "libx265", "hevc": "libx265", "x265": "libx265"}


def _encoder_options(codec: str, crf: int, preset: str, threads: int) -> dict[str, str]:
    """Encoder options: constant quality, preset, thread count, quiet logs."""
    opts = {"crf": str(int(crf)), "preset": preset}
    if codec == "libx264":
        opts["threads"] = str(threads)
    else:  # libx265 takes its threads through x265-params
        opts["x265-params"] = f"log-level=error:pools={threads}:frame-threads={threads}"
    return opts


def _pad_for_encoder(clip: torch.Tensor, min_size: int) -> torch.Tensor:
    """Replicate-pad bottom/right to even sizes >= min_size (yuv420p needs even sizes)."""
    _, _, h, w = clip.shape
    ph = max(h + h % 2, min_size) - h
    pw = max(w + w % 2, min_size) - w
    return F.pad(clip, (0, pw, 0, ph), mode="replicate") if (ph or pw) else clip


def _encode(frames: np.ndarray, codec: str, options: dict[str, str], fps: int, container: str) -> io.BytesIO:
    """Encode (T, H, W, 3) uint8 RGB frames as yuv420p into an in-memory container."""
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.options = options
        for i, frame in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts = i
            out.mux(stream.encode(vf))
        out.mux(stream.encode())  # flush: B-frames / lookahead hold frames back
    buf.seek(0)
    return buf


def _decode(buf: io.BytesIO) -> np.ndarray:
    """Decode every frame of the first video stream as (T, H, W, 3) uint8 RGB."""
    with av.open(buf, "r") as inp:
        return np.stack([f.to_ndarray(format="rgb24") for f in inp.decode(video=0)])


def codec_roundtrip(
    clip: torch.Tensor,
    codec: str = "libx264",
    crf: int = 30,
    preset: str = "fast",
    *,
    fps: int = 25,
    container: str = "matroska",
    threads: int = 1,
) -> torch.Tensor:
    """Real lossy video compression: PyAV encode + decode in memory, same settings for the clip.

    The clip is quantised to 8 bit, converted to yuv420p, encoded at constant
    quality ``crf`` (18 near-transparent .. 45 very blocky), decoded and converted
    back. Odd/tiny frames are padded for the encoder and cropped back, so shape and
    frame count are preserved.

    Args:
        codec: 'libx264' or 'libx265' (aliases h264/hevc/h265 accepted).
        crf: constant rate factor, 0-51.
        preset: x264/x265 preset ('ultrafast', 'veryfast', 'fast', 'medium', ...).
        fps: nominal frame rate written to the stream (affects rate control slightly).
        container: 'matroska' or 'mp4'.
        threads: encoder threads; 1 keeps it deterministic and friendly to data workers.

    Raises:
        ConfigError: unknown codec, or codec not available in this PyAV/FFmpeg build.
    """
    _check_clip(clip)
    codec = _ALIASES.get(codec, codec)
    if codec not in _MIN_SIZE:
        raise ConfigError(f"unsupported codec {codec!r}: use 'libx264' or 'libx265'")
    if codec not in av.codecs_available:
        raise ConfigError(
            f"codec {codec!r} is not available in this PyAV build (av {av.__version__}); "
            "install a PyAV/FFmpeg build with it, or use 'libx264'"
        )
    t, _, h, w = clip.shape
    padded = _pad_for_encoder(clip.clamp(0, 1), _MIN_SIZE[codec])  # (T, 3, H', W'), H', W' even
    frames = (padded * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()  # (T, H', W', 3)
    options = _encoder_options(codec, crf, preset, threads)
    # libx265 occasionally hands the muxer a packet it rejects (EINVAL, not reproducible from run
    # to run); the same encode succeeds when repeated, so retry before giving up.
    for attempt in range(4):
        try:
            decoded = _decode(_encode(frames, codec, options, fps, container if attempt < 2 else _OTHER[container]))
            break
        except av.error.FFmpegError:
            if attempt == 3:
                if codec == "libx265":  # last resort: same CRF through x264 rather than a crash mid-training
                    warnings.warn("libx265 round trip failed 4 times; used libx264 for this clip", RuntimeWarning)
                    return codec_roundtrip(clip, "libx264", crf, preset, fps=fps, container=container, threads=threads)
                raise
    if decoded.shape[0] != t:
        raise RuntimeError(f"{codec} round trip returned {decoded.shape[0]} frames for {t}")
    out = torch.from_numpy(decoded).permute(0, 3, 1, 2)[:, :, :h, :w]  # (T, 3, H, W) uint8
    return out.to(torch.float32) / 255.0


# ----------------------------------------------------------------------------- random chain

#: Default ranges of the blind training chain (``configs/data/default.yaml`` mirrors it).
DEFAULT_DEGRADATION: dict[str, Any] = {
    "p_clean": 0.05,  # clip left untouched (the model must not hallucinate on clean input)
    "blur": {
        "p": 0.3,
        "sigma": [0.3, 1.5],  # Gaussian sigma in px
        "p_motion": 0.2,  # share of blurs that are linear motion blur instead
        "motion_kernel": [3, 9],  # motion blur length in px (odd)
    },
    "resize": {
        "p": 0.3,
        "scale": [0.5, 0.95],
        "down_modes": ["area", "bilinear", "bicubic"],
        "up_modes": ["bilinear", "bicubic"],
    },
    "noise": {
        "p": 0.7,
        "sigma": [1.0, 50.0],  # AWGN std, 0-255 units
        "p_poisson": 0.3,  # share of noisy clips with signal-dependent noise instead
        "peak": [15.0, 1000.0],  # white-level photon count, sampled log-uniform
        "read_sigma": [0.0, 10.0],  # read noise added to the Poisson part, 0-255 units
        "p_gray": 0.2,  # luma-only noise
    },
    "compression": {
        "p_codec": 0.6,
        "p_jpeg": 0.15,  # exclusive with the codec
        "codecs": ["libx264", "libx265"],
        "codec_weights": [0.6, 0.4],
        "crf": [18, 45],
        "presets": ["ultrafast", "veryfast", "fast"],
        "jpeg_quality": [30, 95],
    },
}


def _merge_config(cfg: Mapping | DictConfig | None) -> DictConfig:
    """Defaults overlaid with ``cfg``; unknown keys raise ConfigError."""
    base = OmegaConf.create(DEFAULT_DEGRADATION)
    OmegaConf.set_struct(base, True)
    try:
        return OmegaConf.merge(base, cfg if cfg is not None else {})
    except OmegaConfBaseException as exc:
        raise ConfigError(f"invalid degradation config: {exc}") from exc


def _empty_info() -> dict[str, Any]:
    """What was applied, with fixed keys so that DataLoader's default collate works."""
    return {
        "clean": False,
        "blur": "none",  # none | gaussian | motion
        "blur_sigma": 0.0,
        "motion_kernel": 0,
        "motion_angle": 0.0,
        "scale": 1.0,
        "down_mode": "none",
        "up_mode": "none",
        "noise": "none",  # none | gaussian | poisson_gaussian
        "noise_sigma": 0.0,  # AWGN or read-noise std, 0-255
        "noise_peak": 0.0,  # photon count (poisson_gaussian only)
        "noise_gray": False,
        "compression": "none",  # none | libx264 | libx265 | jpeg
        "crf": 0,
        "preset": "none",
        "jpeg_quality": 0,
    }


def _blur_stage(clip: torch.Tensor, cfg: DictConfig, g: torch.Generator, info: dict) -> torch.Tensor:
    """Optics: Gaussian (defocus) or linear motion blur, one kernel per clip."""
    if not coin(g, cfg.p):
        return clip
    if coin(g, cfg.p_motion):
        k = randint(g, *cfg.motion_kernel) | 1
        angle = uniform(g, 0.0, 180.0)
        info.update(blur="motion", motion_kernel=k, motion_angle=angle)
        return motion_blur(clip, k, angle, uniform(g, -1.0, 1.0))
    sigma = uniform(g, *cfg.sigma)
    info.update(blur="gaussian", blur_sigma=sigma)
    return gaussian_blur(clip, sigma)


def _resize_stage(clip: torch.Tensor, cfg: DictConfig, g: torch.Generator, info: dict) -> torch.Tensor:
    """Scaling: down by a random factor, back up, random interpolations."""
    if not coin(g, cfg.p):
        return clip
    scale = uniform(g, *cfg.scale)
    down, up = _choice(g, list(cfg.down_modes)), _choice(g, list(cfg.up_modes))
    info.update(scale=scale, down_mode=down, up_mode=up)
    return down_up(clip, scale, down, up)


def _noise_stage(clip: torch.Tensor, cfg: DictConfig, g: torch.Generator, info: dict) -> torch.Tensor:
    """Sensor: AWGN or Poisson-Gaussian, independent per frame."""
    if not coin(g, cfg.p):
        return clip
    if coin(g, cfg.p_poisson):
        peak, read = log_uniform(g, *cfg.peak), uniform(g, *cfg.read_sigma)
        info.update(noise="poisson_gaussian", noise_peak=peak, noise_sigma=read)
        return poisson_gaussian_noise(clip, peak, read, g)
    sigma, gray = uniform(g, *cfg.sigma), coin(g, cfg.p_gray)
    info.update(noise="gaussian", noise_sigma=sigma, noise_gray=gray)
    return gaussian_noise(clip, sigma, g, gray=gray)


def _compression_stage(clip: torch.Tensor, cfg: DictConfig, g: torch.Generator, info: dict) -> torch.Tensor:
    """Storage: video codec (H.264/H.265) or per-frame JPEG, same settings for the clip."""
    u = uniform(g, 0.0, 1.0)  # one draw picks codec, JPEG or neither
    if u < cfg.p_codec:
        codec = _choice(g, list(cfg.codecs), list(cfg.codec_weights))
        crf, preset = randint(g, *cfg.crf), _choice(g, list(cfg.presets))
        info.update(compression=codec, crf=crf, preset=preset)
        return codec_roundtrip(clip, codec, crf, preset)
    if u < cfg.p_codec + cfg.p_jpeg:
        quality = randint(g, *cfg.jpeg_quality)
        info.update(compression="jpeg", jpeg_quality=quality)
        return jpeg(clip, quality)
    return clip


class RandomDegradation:
    """Blind training degradation: blur -> down-up -> noise -> codec/JPEG, sampled per clip.

    Covers sensor noise up to sigma 50 (Gaussian or Poisson-Gaussian), H.264/H.265
    CRF 18-45, mild blur and scaling, their mixtures, and clean clips (``p_clean``).

    Args:
        cfg: mapping overriding ``DEFAULT_DEGRADATION`` (plain dict or OmegaConf);
            unknown keys raise ConfigError.

    Call: ``lq, info = deg(gt (T,3,H,W), generator)``; ``info`` has fixed keys (see
    ``_empty_info``) so a DataLoader can collate it; ``describe(info)`` prints it.
    """

    def __init__(self, cfg: Mapping | DictConfig | None = None):
        self.cfg = _merge_config(cfg)

    def __call__(self, clip: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, Any]]:
        _check_clip(clip)
        info = _empty_info()
        if coin(generator, self.cfg.p_clean):
            info["clean"] = True
            return _finish(clip.clone()), info
        out = _blur_stage(clip, self.cfg.blur, generator, info)
        out = _resize_stage(out, self.cfg.resize, generator, info)
        out = _noise_stage(out, self.cfg.noise, generator, info)
        out = _compression_stage(out, self.cfg.compression, generator, info)
        return _finish(out), info


def describe(info: Mapping[str, Any]) -> str:
    """One line, e.g. ``gaussian blur 0.8 > down-up x0.62 > noise 23.1 > libx265 crf 33``."""
    if info.get("clean"):
        return "clean"
    parts = []
    if info["blur"] == "gaussian":
        parts.append(f"gaussian blur {info['blur_sigma']:.2f}")
    elif info["blur"] == "motion":
        parts.append(f"motion blur {info['motion_kernel']}px {info['motion_angle']:.0f}deg")
    if info["scale"] != 1.0:
        parts.append(f"down-up x{info['scale']:.2f} ({info['down_mode']}/{info['up_mode']})")
    if info["noise"] == "gaussian":
        parts.append(f"{'gray ' if info['noise_gray'] else ''}noise {info['noise_sigma']:.1f}")
    elif info["noise"] == "poisson_gaussian":
        parts.append(f"poisson noise peak {info['noise_peak']:.0f} + read {info['noise_sigma']:.1f}")
    if info["compression"] == "jpeg":
        parts.append(f"jpeg q{info['jpeg_quality']}")
    elif info["compression"] != "none":
        parts.append(f"{info['compression']} crf {info['crf']} {info['preset']}")
    return " > ".join(parts) or "none"


# ----------------------------------------------------------------------------- evaluation presets


@dataclass(frozen=True)
class Preset:
    """A named deterministic degradation: ``preset(clip, generator) -> clip``."""

    description: str
    apply: Callable[[torch.Tensor, torch.Generator], torch.Tensor]

    def __call__(self, clip: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.apply(clip, generator)


def _awgn(sigma: float) -> Preset:
    return Preset(f"AWGN sigma {sigma:g}/255, per frame, clamped to [0, 1]", lambda c, g: gaussian_noise(c, sigma, g))


def _codec(codec: str, crf: int) -> Preset:
    return Preset(f"{codec} CRF {crf}, preset fast, yuv420p", lambda c, g: codec_roundtrip(c, codec, crf, "fast"))


def _realworld(clip: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Soft optics, moderate sensor noise, then a typical H.264 encode."""
    return codec_roundtrip(gaussian_noise(gaussian_blur(clip, 1.0), 10.0, g), "libx264", 30, "fast")


#: Evaluation degradations by name. Codec-only presets ignore the seed (encoders are deterministic).
PRESETS: dict[str, Preset] = {
    "awgn15": _awgn(15),
    "awgn25": _awgn(25),
    "awgn50": _awgn(50),
    "h264_crf37": _codec("libx264", 37),
    "h265_crf37": _codec("libx265", 37),
    "realworld": Preset("Gaussian blur sigma 1.0 > AWGN sigma 10 > libx264 CRF 30 fast", _realworld),
}


def degrade(clip: torch.Tensor, name: str, seed: int = 0) -> torch.Tensor:
    """Apply the named preset with a fresh generator seeded by ``seed`` (same seed -> same output).

    Raises:
        ConfigError: unknown preset name.
    """
    if name not in PRESETS:
        raise ConfigError(f"unknown degradation preset {name!r}; choose from {', '.join(PRESETS)}")
    _check_clip(clip)
    generator = torch.Generator().manual_seed(int(seed))
    return _finish(PRESETS[name](clip.to(torch.float32), generator))
