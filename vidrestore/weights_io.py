"""One safetensors file holds the whole chain (vae.*, dit.*, pixel_decoder.*) plus metadata:
the resolved model config (YAML), whether the weights are trained, and provenance.
Never pickle: loading a weights file cannot execute code."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from omegaconf import OmegaConf

from vidrestore.errors import WeightsError

FORMAT = "vidrestore/1"
BUILTIN_DIR = Path(__file__).resolve().parent / "weights"


def resolve(name_or_path: str | os.PathLike) -> Path:
    """'default' (or any name of a file in vidrestore/weights/) or a path -> existing file path."""
    p = Path(name_or_path).expanduser()
    if p.suffix == ".safetensors" or p.exists() or os.sep in str(name_or_path):
        if not p.is_file():
            raise WeightsError(f"model file not found: {p}")
        return p
    builtin = BUILTIN_DIR / f"{name_or_path}.safetensors"
    if builtin.is_file():
        return builtin
    names = sorted(f.stem for f in BUILTIN_DIR.glob("*.safetensors"))
    if name_or_path == "default" and not names:
        raise WeightsError(
            "no trained default weights ship with this version yet (vidrestore/weights/default.safetensors "
            "is missing); train them with the scripts in training/ (see README, 'Training') and pass their path as the model (--model PATH on the command line, model=PATH in VapourSynth)")
    raise WeightsError(f"unknown model '{name_or_path}'; shipped models: {', '.join(names) or 'none'}; or give a path to a .safetensors file")


def save(path: str | os.PathLike, state: dict[str, torch.Tensor], cfg, trained: bool, **meta: str) -> Path:
    """Write atomically (temp file + rename) so a crash never leaves a half-written weights file."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"format": FORMAT, "config": OmegaConf.to_yaml(cfg), "trained": "true" if trained else "false"}
    metadata.update({k: str(v) for k, v in meta.items()})
    tmp = path.with_name(f".{path.name}.tmp")
    save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, str(tmp), metadata=metadata)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # a normal file's permissions, not the private temp file's
    os.replace(tmp, path)
    return path


def load(path: Path) -> tuple[dict[str, torch.Tensor], object, dict[str, str]]:
    """-> (state dict, resolved DictConfig, metadata). Raises WeightsError with the reason."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    from vidrestore.config import load_model_config

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise WeightsError(f"{path}: not a valid safetensors weights file ({e})") from None
    if meta.get("format") != FORMAT or "config" not in meta:
        raise WeightsError(f"{path}: not a vidrestore weights file (metadata format={meta.get('format')!r})")
    cfg = load_model_config(OmegaConf.create(meta["config"]))
    return state, cfg, meta
