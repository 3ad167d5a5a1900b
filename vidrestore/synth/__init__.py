"""Synthetic data: degradations (training chain + evaluation presets) and camera motion."""

from vidrestore.synth.degradations import (
    DEFAULT_DEGRADATION,
    PRESETS,
    Preset,
    RandomDegradation,
    codec_roundtrip,
    degrade,
    describe,
    down_up,
    gaussian_blur,
    gaussian_noise,
    jpeg,
    motion_blur,
    poisson_gaussian_noise,
)
from vidrestore.synth.motion import affine_flow, camera_affines, moving_clip

__all__ = [
    "DEFAULT_DEGRADATION",
    "PRESETS",
    "Preset",
    "RandomDegradation",
    "affine_flow",
    "camera_affines",
    "codec_roundtrip",
    "degrade",
    "describe",
    "down_up",
    "gaussian_blur",
    "gaussian_noise",
    "jpeg",
    "motion_blur",
    "moving_clip",
    "poisson_gaussian_noise",
]
