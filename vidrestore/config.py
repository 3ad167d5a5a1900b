"""Declarative model configuration (OmegaConf structured configs).

`configs/model/*.yaml` are merged onto these dataclasses, so a typo in a key is an
error that names the key instead of a silently ignored setting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from vidrestore.errors import ConfigError

REPO_CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "model"

# Fixed by the LP-VAE design (ZipIR): z = [macro 3; coarse 9; fine 52] = 64 channels at f32.
MACRO_CH, COARSE_CH, FINE_CH = 3, 9, 52
LATENT_CH = MACRO_CH + COARSE_CH + FINE_CH
FACTOR = 32
ENSEMBLES = (1, 2, 4, 8)  # the allowed inference.ensemble sizes (of the 8 flips/transposes)


@dataclass
class VAEConfig:
    # fine encoder widths at H/4, H/8, H/16, H/32 (pixel-unshuffle x4 stem first)
    fine_channels: list[int] = field(default_factory=lambda: [48, 64, 96, 128])
    # coarse encoder widths at H/8, H/16, H/32 (its input is the 4x-downsampled frame)
    coarse_channels: list[int] = field(default_factory=lambda: [32, 48, 64])
    # decoder widths at H/32, H/16, H/8, H/4 (pixel-shuffle x4 to RGB last)
    decoder_channels: list[int] = field(default_factory=lambda: [128, 96, 64, 48])
    # stage-1 decoder (12ch -> RGB) widths at H/32, H/16, H/8, H/4
    coarse_decoder_channels: list[int] = field(default_factory=lambda: [64, 48, 32, 32])
    blocks: int = 1  # residual blocks per level


@dataclass
class DiTConfig:
    width: int = 192
    depth: int = 6  # blocks alternate FCSA and GGSA
    heads: int = 4
    mlp_ratio: float = 2.0
    window: int = 4  # FCSA window (latent pixels), shifted by window//2 every other FCSA block
    grid: int = 4  # GGSA grid: tokens H/grid apart attend to each other
    hmha: bool = True  # HINT hierarchical heads after channel reranking (in GGSA)
    head_split: list[int] = field(default_factory=lambda: [1, 2, 2, 3])  # unequal head widths, /sum
    qkcu: bool = True  # HINT query-key cache updating across layers (reset on each forward)


@dataclass
class DecoderConfig:
    lq_branch: bool = True  # pixel-aware: copy of the fine encoder reading the degraded frame
    temporal: bool = True  # temporal residual blocks + AlphaBlender after each up block
    temporal_kernel: int = 3
    temporal_spatial: int = 1  # spatial size of the temporal kernels: 3 lets them follow motion
    lq_neighbours: bool = False  # the LQ branch's stem also reads frames t-1 and t+1
    lq_neighbour_frames: int = 1  # frames on each side the stem reads (2: also t-2, t+2, through a second stem)
    align: bool = False  # warp those frames onto frame t first (block matching, models/align.py; no weights)
    align_search: int = 4  # block-matching search radius at 1/4 size: motion up to +-4x this many px per frame pair
    align_match_scale: int = 1  # block matching searched down to 1/this size, finer sizes only a sub-pixel step (1, 2, 4)
    refine_blocks: list[int] = field(default_factory=lambda: [0, 0, 0, 0])  # ResBlocks after each injection, H/32..H/4
    refine_expand: int = 1  # inner width of those blocks, x channels
    nvsm_attention: bool = True  # LIPT NVSM-SA at the coarsest decoder level
    nvsm_window: int = 4
    fallback: bool = True  # predict a confidence map, blend towards the degraded input
    residual: bool = False  # the decoder predicts a correction of the degraded frame instead of the frame
    out_gate: bool = False  # per-pixel gate on the output temporal filter, from motion and decoder features
    out_far: bool = False  # the output temporal filter also reads frames t-2, t+2 warped onto t (needs align)
    pixel_head: bool = False  # residual CNN at H/2 refining the output (from it, the degraded frame, the neighbours)
    pixel_head_channels: int = 48
    pixel_head_blocks: int = 4
    deblock_head: bool = False  # the fallback target is the degraded frame after a compression-artefact CNN (needs fallback)
    deblock_head_channels: int = 48
    deblock_head_blocks: int = 6
    deblock_frames: int = 1  # frames on each side it reads (1: t-1, t+1; 2: also t-2, t+2), aligned onto t with `align`
    deblock_noise: list[float] = field(default_factory=lambda: [4.0, 8.0])  # its weight: 1 below, 0 above this estimated noise σ (0-255)
    deblock_temporal: float = 0.0  # >0 (kappa): on those frames the output is averaged with its aligned neighbours, each weighted
                                   # per pixel by exp(-d / h2), d its mean squared difference (5x5 box), h2 = kappa x the local
                                   # mean square of the head's correction (9x9), at most deblock_temporal_max^2; 0 = off (needs align)
    deblock_temporal_max: float = 0.04


@dataclass
class InferenceConfig:
    steps: int = 4
    tile: int = 512
    tile_overlap: int = 64
    window: int = 5
    window_overlap: int = 2
    seed: int = 0
    ensemble: int = 1  # one of ENSEMBLES: flips/transposes of each tile averaged (Restorer: self_ensemble)
    refine: float = 0.0  # guided refinement of each output frame (models/refine.py); 0 = off, tuned per weights file
    refine_kernel: int = 5  # its box size in pixels (odd)
    refine_passes: int = 2  # 1 or 2 guided-filter passes
    refine_detail: float = 0.0  # weight of its detail pass (degraded frame's detail taken back); 0 = off
    refine_detail_kernel: int = 9  # the detail pass's box size (odd)
    temporal_mean: float = 0.0  # alpha of the temporal mean after the refinement (models/refine_temporal.py); 0 = off
    temporal_mean_radius: int = 2  # its neighbours on each side (1-3)
    temporal_mean_match_scale: int = 1  # its block matching searches down to 1/this size, then sub-pixel steps (1, 2, 4)


@dataclass
class ModelConfig:
    name: str = "tiny"
    vae: VAEConfig = field(default_factory=VAEConfig)
    dit: DiTConfig = field(default_factory=DiTConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)


def load_model_config(source: str | Path | dict | DictConfig | None = None, overrides: list[str] | None = None) -> DictConfig:
    """Resolve a model config from a name (`tiny`), a YAML path, a dict or a DictConfig."""
    schema = OmegaConf.structured(ModelConfig)
    try:
        if source is None:
            user = OmegaConf.create({})
        elif isinstance(source, (dict, DictConfig)):
            user = OmegaConf.create(OmegaConf.to_container(source) if isinstance(source, DictConfig) else source)
        else:
            path = Path(source)
            if not path.suffix and (REPO_CONFIGS / f"{source}.yaml").exists():
                path = REPO_CONFIGS / f"{source}.yaml"
            if not path.exists():
                raise ConfigError(f"model config not found: {source}")
            user = OmegaConf.load(path)
        cfg = OmegaConf.merge(schema, user)
        if overrides:
            cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides)))
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or getattr(e, "key", None)
        raise ConfigError(f"invalid model config ({source}): key '{key}': {e.msg if hasattr(e, 'msg') else e}") from None
    OmegaConf.set_readonly(cfg, True)
    return cfg
