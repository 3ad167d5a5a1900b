"""Plumbing shared by the three training scripts (each script's loop stays explicit and short).

* config:      YAML under configs/train/ + `key=value` overrides; resolved config saved per checkpoint
* distributed: torchrun env -> DDP (nccl on GPU, gloo on CPU); plain single process otherwise
* data:        deterministic per-step sampling (bit-exact resume), DataLoader workers
* checkpoints: safetensors only (models, EMA, optimizer tensors, RNG); optimizer structure as JSON metadata
* logging:     tqdm bar (loss, it/s), TensorBoard scalars + image grids, validation PSNR/SSIM (kornia)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn as nn
from omegaconf import DictConfig, OmegaConf

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from vidrestore.config import load_model_config  # noqa: E402
from vidrestore.errors import ConfigError, VidrestoreError  # noqa: E402
from vidrestore.models.chain import RestorationChain  # noqa: E402
from vidrestore import weights_io as W  # noqa: E402


# ----------------------------------------------------------------------------- config


def parse_config(script_doc: str, default_yaml: Path, argv: list[str] | None = None) -> DictConfig:
    """`script.py [config=PATH] key=value ...`; -h prints the documented default config."""
    text = default_yaml.read_text()
    parser = argparse.ArgumentParser(
        description=script_doc, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"options (override any as key=value; nested keys with dots), defaults from {default_yaml.relative_to(REPO)}:\n\n{text}")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. steps=1000 data.size=[128,128]")
    args = parser.parse_args(argv)
    overrides = list(args.overrides)
    base = default_yaml
    for o in list(overrides):
        if o.startswith("config="):
            base = Path(o.split("=", 1)[1])
            overrides.remove(o)
    bad = [o for o in overrides if "=" not in o]
    if bad:
        parser.error(f"overrides must look like key=value, got: {' '.join(bad)}")
    try:
        cfg = OmegaConf.merge(OmegaConf.load(default_yaml), OmegaConf.load(base), OmegaConf.from_dotlist(overrides))
    except Exception as e:  # noqa: BLE001
        raise ConfigError(f"invalid training config: {e}") from None
    known = OmegaConf.load(default_yaml)
    for o in overrides:  # unknown top-level / nested keys are errors, not silently ignored settings
        key = o.split("=", 1)[0]
        free = key.startswith("data.") or key.startswith("lr_mults.")  # data: its own config; lr_mults: part names (checked by the script)
        if OmegaConf.select(known, key, default="__missing__") == "__missing__" and not free:
            raise ConfigError(f"unknown config key '{key}' (see --help for the options)")
    return cfg


def run_main(main, doc: str, default_yaml: Path) -> None:
    """Entry point wrapper: user mistakes become one line + exit 2."""
    try:
        main(parse_config(doc, default_yaml))
    except VidrestoreError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


# ----------------------------------------------------------------------------- distributed


@dataclass
class Env:
    device: torch.device
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


# precision -> autocast dtype (GPU only); tf32: fp32 weights and activations with TF32 matrix products
PRECISIONS = {"fp32": None, "tf32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def setup_env(cfg) -> Env:
    if cfg.precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got '{cfg.precision}'")
    torch.backends.cuda.matmul.allow_tf32 = cfg.precision == "tf32"  # fp32 weights, TF32 matrix products (GPU)
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:  # launched by torchrun
        backend = "nccl" if torch.cuda.is_available() and cfg.device != "cpu" else "gloo"
        dist.init_process_group(backend)
        rank, world, local = dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0))
        if backend == "nccl":
            torch.cuda.set_device(local)
            device = torch.device("cuda", local)
        else:
            device = torch.device("cpu")
        return Env(device, rank, world, local)
    if cfg.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(cfg.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={cfg.device}, but torch sees no CUDA GPU here: use device=cpu (or auto)")
    if device.type == "cpu" and cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # crops have one fixed size: let cuDNN pick the fastest kernels
    return Env(device)


def ddp(module: nn.Module, env: Env) -> nn.Module:
    if env.world == 1:
        return module
    return nn.parallel.DistributedDataParallel(module, device_ids=[env.local_rank] if env.device.type == "cuda" else None)


def autocast(cfg, env: Env):
    dtype = PRECISIONS[cfg.precision]
    return nullcontext() if env.device.type != "cuda" or dtype is None else torch.autocast("cuda", dtype=dtype)


def mean_across_ranks(x: torch.Tensor, env: Env) -> torch.Tensor:
    if env.world > 1:
        x = x.detach().clone()
        dist.all_reduce(x)
        x /= env.world
    return x


# ----------------------------------------------------------------------------- data


class StepSampler(torch.utils.data.Sampler):
    """Global sample indices for steps [start, steps): step s, rank r gets
    (s * world + r) * batch + i. Items are pure functions of their index (training/data.py),
    so a resumed run sees exactly the data the uninterrupted run would have seen."""

    def __init__(self, start: int, steps: int, batch: int, rank: int, world: int, length: int):
        self.start, self.steps, self.batch, self.rank, self.world, self.length = start, steps, batch, rank, world, length

    def __iter__(self):
        for s in range(self.start, self.steps):
            base = (s * self.world + self.rank) * self.batch
            yield from ((base + i) % self.length for i in range(self.batch))

    def __len__(self):
        return max(0, self.steps - self.start) * self.batch


def make_loader(cfg, env: Env, start_step: int):
    """Training DataLoader for steps [start_step, cfg.steps) and the validation dataset (or None)."""
    train, val = build_data(cfg)
    end = min(cfg.steps, int(cfg.get("stop_at") or cfg.steps))  # stop_at: end this run early (curricula), same schedule
    sampler = StepSampler(start_step, end, cfg.batch_size, env.rank, env.world, len(train))
    loader = torch.utils.data.DataLoader(
        train, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.workers,
        collate_fn=collate, prefetch_factor=2 if cfg.workers else None,
        generator=torch.Generator().manual_seed(int(cfg.seed)))  # keeps the global RNG (restored on resume) untouched
    return loader, val


def build_data(cfg):
    """The training dataset (cfg.data_config overlaid with cfg.data) and the validation dataset (or None)."""
    from training.data import build_dataset, load_data_config
    from vidrestore.errors import InputError

    data_cfg = OmegaConf.merge(load_data_config(cfg.data_config), cfg.data)  # the script's data overrides win
    train = build_dataset(data_cfg, "train")
    if not cfg.get("degrade", True):
        train.degradation = None  # stages that only need clean frames skip the (slow) degradations
    val = None
    if data_cfg.get("val"):
        try:
            # the same held-aside clips whatever the training orientations, so runs stay comparable
            val = build_dataset(OmegaConf.merge(data_cfg, {"seed": int(data_cfg.seed) + 12345, "orientations": "hflip"}), "val")
        except InputError as e:  # validation is optional; training data is not
            print(f"note: no validation ({e})", file=sys.stderr)
    return train, val


def collate(items):
    return {"gt": torch.stack([i["gt"] for i in items]), "lq": torch.stack([i["lq"] for i in items])}


# ----------------------------------------------------------------------------- models


def build_chain(cfg, env: Env) -> RestorationChain:
    """Fresh chain from cfg.model, or the weights of an earlier stage (cfg.init)."""
    if cfg.get("init"):
        state, init_cfg, meta = W.load(W.resolve(cfg.init))
        if cfg.get("reset_decoder"):  # the pixel decoder's architecture comes from cfg.model, not from init
            init_cfg = OmegaConf.merge(init_cfg, {"decoder": load_model_config(cfg.model).decoder})
        model_cfg = load_model_config(init_cfg, list(cfg.get("model_overrides") or []))
        chain = RestorationChain(model_cfg)
        if cfg.get("reset_decoder"):  # keep init's LP-VAE and DiT; the pixel decoder starts again from the VAE
            state = {k: v for k, v in state.items() if not k.startswith("pixel_decoder.")}
            missing, unexpected = chain.load_state_dict(state, strict=False)
            missing = [k for k in missing if not k.startswith("pixel_decoder.")]
            if missing or unexpected:
                raise ConfigError(f"{cfg.init} does not fit the model's LP-VAE/DiT: missing {missing[:3]}, unexpected {unexpected[:3]}")
            chain.pixel_decoder.init_from_vae(chain.vae)
        else:
            hint = "(architecture changed? reset_decoder=true starts the pixel decoder again from the VAE)"
            try:
                missing, unexpected = chain.load_state_dict(state, strict=False)
            except RuntimeError as e:
                raise ConfigError(f"{cfg.init} does not fit the model (after model_overrides): {str(e).splitlines()[0]} ... {hint}") from None
            # add-ons that start as no-ops may be switched on by model_overrides: they start fresh
            fresh = []
            if model_cfg.decoder.out_gate and not init_cfg.decoder.get("out_gate"):
                fresh.append("pixel_decoder.out_gate.")
            if model_cfg.decoder.lq_neighbour_frames > init_cfg.decoder.get("lq_neighbour_frames", 1):
                fresh.append("pixel_decoder.lq_far_stem.")
            if model_cfg.decoder.out_far and not init_cfg.decoder.get("out_far"):
                fresh.append("pixel_decoder.out_far.")
            if model_cfg.decoder.pixel_head and not init_cfg.decoder.get("pixel_head"):
                fresh.append("pixel_decoder.pixel_head.")
            if model_cfg.decoder.deblock_head and not init_cfg.decoder.get("deblock_head"):
                fresh.append("pixel_decoder.deblock_head.")
            deeper = {}  # heads deepened by model_overrides (same width): blocks appended after the trained ones
            for head in ("pixel_head", "deblock_head"):
                old, new = init_cfg.decoder.get(f"{head}_blocks"), model_cfg.decoder.get(f"{head}_blocks")
                if model_cfg.decoder.get(head) and init_cfg.decoder.get(head) and old is not None and new > old:
                    deeper[head] = old
                    fresh += [f"pixel_decoder.{head}.body.{i}." for i in range(old, new)]
            missing = [k for k in missing if not k.startswith(tuple(fresh))]
            if missing or unexpected:
                raise ConfigError(f"{cfg.init} does not fit the model (after model_overrides): missing {missing[:3]}, "
                                  f"unexpected {unexpected[:3]} {hint}")
            if model_cfg.decoder.residual and not init_cfg.decoder.residual:
                chain.pixel_decoder.reset_output()  # switching to residual decoding: start from the identity
            for head, old in deeper.items():  # the appended blocks start as identities: the head computes what it did
                getattr(chain.pixel_decoder, head).identity_blocks(old)
            if "pixel_decoder.out_far." in fresh and cfg.get("out_far_init", 0) > 0:
                chain.pixel_decoder.init_out_far(float(cfg.out_far_init))
            chain.fresh = fresh
        chain.stages = [s for s in meta.get("stages", "").split(",") if s]
    else:
        model_cfg = load_model_config(cfg.model)
        chain = RestorationChain(model_cfg)
        chain.stages = []
    chain.cfg = model_cfg
    return chain.to(env.device)


def discriminator_step(disc, opt_d, real: torch.Tensor, fake: torch.Tensor, cfg, env: "Env") -> float:
    """One hinge-loss update of a PatchGAN discriminator; `fake` is detached here. Returns the loss."""
    from training.losses import hinge_d_loss

    with autocast(cfg, env):
        d_loss = hinge_d_loss(disc(real), disc(fake.detach()))
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    return d_loss.item()


def freeze(*modules: nn.Module) -> None:
    for m in modules:
        m.requires_grad_(False)
        m.eval()


def param_checksum(module: nn.Module) -> float:
    return float(sum(p.detach().double().sum() for p in module.parameters()))


class EMA:
    """Exponential moving average of a module's parameters (and copies of its buffers)."""

    def __init__(self, module: nn.Module, decay: float):
        self.decay = decay
        self.shadow = {k: v.detach().clone().float() for k, v in module.state_dict().items()}

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        for k, v in module.state_dict().items():
            if v.dtype.is_floating_point:
                self.shadow[k].lerp_(v.float(), 1 - self.decay)
            else:
                self.shadow[k].copy_(v)

    def copy_to(self, module: nn.Module) -> None:
        module.load_state_dict({k: v.to(module.state_dict()[k].dtype) for k, v in self.shadow.items()})


# ----------------------------------------------------------------------------- checkpoints


def _flatten_optimizer(name: str, opt: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    sd = opt.state_dict()
    scalars = {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optim.{name}.{pid}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{k}"] = v
    meta[f"optim.{name}"] = json.dumps({"param_groups": sd["param_groups"], "scalars": scalars})


def _unflatten_optimizer(name: str, tensors: dict, meta: dict) -> dict:
    info = json.loads(meta[f"optim.{name}"])
    state: dict = {}
    prefix = f"optim.{name}."
    for key, v in tensors.items():
        if key.startswith(prefix):
            pid, k = key[len(prefix):].split(".", 1)
            state.setdefault(int(pid), {})[k] = v
    for key, v in info["scalars"].items():
        pid, k = key.split(".", 1)
        state.setdefault(int(pid), {})[k] = v
    return {"state": state, "param_groups": info["param_groups"]}


class Checkpointer:
    """run_dir/ckpt/step_XXXXXXXX.safetensors (+ .yaml config) and run_dir/ckpt/latest."""

    def __init__(self, run_dir: Path, keep: int = 3):
        self.dir = Path(run_dir) / "ckpt"
        self.keep = keep

    def save(self, step: int, cfg, models: dict[str, nn.Module], optimizers: dict, emas: dict[str, EMA]) -> Path:
        from safetensors.torch import save_file

        self.dir.mkdir(parents=True, exist_ok=True)
        tensors, meta = {}, {"step": str(step), "config": OmegaConf.to_yaml(cfg)}
        for name, m in models.items():
            for k, v in m.state_dict().items():
                tensors[f"model.{name}.{k}"] = v.detach().cpu().contiguous()
        for name, ema in emas.items():
            for k, v in ema.shadow.items():
                tensors[f"ema.{name}.{k}"] = v.cpu().contiguous()
        for name, opt in optimizers.items():
            _flatten_optimizer(name, opt, tensors, meta)
        tensors["rng.torch"] = torch.get_rng_state()
        if torch.cuda.is_available():
            tensors["rng.cuda"] = torch.cuda.get_rng_state()
        path = self.dir / f"step_{step:08d}.safetensors"
        tmp = path.with_suffix(".tmp")
        save_file(tensors, str(tmp), metadata=meta)
        os.replace(tmp, path)
        path.with_suffix(".yaml").write_text(OmegaConf.to_yaml(cfg))
        (self.dir / "latest").write_text(path.name)
        for old in sorted(self.dir.glob("step_*.safetensors"))[:-self.keep]:
            old.unlink()
            old.with_suffix(".yaml").unlink(missing_ok=True)
        return path

    def find(self, resume) -> Path | None:
        if not resume:
            return None
        if str(resume) == "auto":
            latest = self.dir / "latest"
            return self.dir / latest.read_text().strip() if latest.exists() else None
        p = Path(resume)
        if not p.is_file():
            raise ConfigError(f"resume checkpoint not found: {p}")
        return p

    @staticmethod
    def load(path: Path, models: dict[str, nn.Module], optimizers: dict, emas: dict[str, EMA]) -> int:
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata()
        tensors = load_file(str(path))
        for name, m in models.items():
            p = f"model.{name}."
            m.load_state_dict({k[len(p):]: v for k, v in tensors.items() if k.startswith(p)})
        device = next(next(iter(models.values())).parameters()).device
        for name, ema in emas.items():
            p = f"ema.{name}."
            ema.shadow = {k[len(p):]: v.to(device) for k, v in tensors.items() if k.startswith(p)}
        for name, opt in optimizers.items():
            opt.load_state_dict(_unflatten_optimizer(name, tensors, meta))
        torch.set_rng_state(tensors["rng.torch"])
        if "rng.cuda" in tensors and torch.cuda.is_available():
            torch.cuda.set_rng_state(tensors["rng.cuda"])
        return int(meta["step"])


def export_chain(chain: RestorationChain, path: Path, stage: str, trained: bool, dtype: str = "fp32", **meta) -> Path:
    """The one file `Restorer.from_pretrained` loads (and the next stage's `init=`).
    dtype=fp16 halves the file (the shipped weights must stay small enough for git)."""
    stages = list(dict.fromkeys([*getattr(chain, "stages", []), stage]))
    state = chain.state_dict()
    if dtype == "fp16":
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    return W.save(path, state, chain.cfg, trained=trained, stages=",".join(stages), **meta)


def lr_at(cfg, step: int) -> float:
    """Learning rate of `step` (1-based): linear warm-up over `warmup_steps`, then constant or cosine
    down to `lr_min` at `steps`. A pure function of the step, so resumed runs follow the same curve."""
    warm = int(cfg.get("warmup_steps", 0))
    if warm and step <= warm:
        return cfg.lr * step / warm
    if cfg.get("lr_schedule", "constant") == "constant":
        return cfg.lr
    if cfg.lr_schedule != "cosine":
        raise ConfigError(f"lr_schedule must be constant or cosine, got '{cfg.lr_schedule}'")
    progress = min(1.0, (step - warm) / max(1, cfg.steps - warm))
    lo = float(cfg.get("lr_min", 0.0))
    return lo + (cfg.lr - lo) * 0.5 * (1 + math.cos(math.pi * progress))


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr * group.get("lr_mult", 1.0)


class Clock:
    """Wall-clock budget for a run (`time_limit_min`, 0 = none): the loop stops early, cleanly."""

    def __init__(self, minutes: float):
        self.limit = minutes * 60 if minutes else None
        self.t0 = time.time()

    def out(self) -> bool:
        return self.limit is not None and time.time() - self.t0 > self.limit


# ----------------------------------------------------------------------------- logging


class Logger:
    """tqdm progress (rank 0) + TensorBoard scalars/images + a plain-text log line every N steps."""

    def __init__(self, cfg, env: Env, start: int):
        from tqdm import tqdm

        self.env, self.every = env, cfg.log_every
        self.bar = tqdm(total=cfg.steps, initial=start, disable=not env.main or not cfg.progress, dynamic_ncols=True, desc=cfg.run_dir)
        self.tb = None
        if env.main and cfg.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(Path(cfg.run_dir) / "tb"))
            except ImportError:
                print("note: tensorboard not installed; scalars go to log.txt only", file=sys.stderr)
        self.log_file = Path(cfg.run_dir) / "log.txt" if env.main else None
        if env.main:
            Path(cfg.run_dir).mkdir(parents=True, exist_ok=True)
            (Path(cfg.run_dir) / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
        self.t0 = time.time()

    def step(self, step: int, scalars: dict[str, float]) -> None:
        self.bar.update(1)
        if not self.env.main:
            return
        if step % self.every == 0 or step == 1:
            self.bar.set_postfix({k: f"{v:.4f}" for k, v in scalars.items()})
            self.record(step, scalars, 6, time=round(time.time() - self.t0, 1))

    def record(self, step: int, scalars: dict[str, float], digits: int, **extra) -> None:
        """Scalars -> TensorBoard and one JSON line of log.txt (main process only)."""
        if self.tb:
            for k, v in scalars.items():
                self.tb.add_scalar(k, v, step)
        if self.log_file is not None:
            with open(self.log_file, "a") as f:
                f.write(json.dumps({"step": step, **extra, **{k: round(v, digits) for k, v in scalars.items()}}) + "\n")

    def images(self, step: int, name: str, lq, out, gt) -> None:
        if self.tb:
            import torchvision

            grid = torchvision.utils.make_grid(torch.cat([lq, out.clamp(0, 1), gt]).float().cpu(), nrow=lq.shape[0])
            self.tb.add_image(name, grid, step)

    def close(self):
        self.bar.close()
        if self.tb:
            self.tb.close()


@contextmanager
def ema_weights(module: nn.Module, ema: EMA | None):
    """Evaluate `module` with its EMA weights (if any) in eval mode; restore the live weights after."""
    live = {k: v.clone() for k, v in module.state_dict().items()}
    if ema is not None:
        ema.copy_to(module)
    module.eval()
    try:
        yield module
    finally:
        module.load_state_dict(live)
        module.train()


def report(log: Logger, step: int, scalars: dict[str, float], text: str) -> None:
    """Validation result -> TensorBoard scalars, log.txt and one line above the progress bar."""
    log.bar.write(f"step {step}: {text}")
    log.record(step, scalars, 4)


@torch.no_grad()
def psnr_ssim(out: torch.Tensor, gt: torch.Tensor) -> tuple[float, float]:
    import kornia

    out = out.clamp(0, 1).float()
    return float(kornia.metrics.psnr(out, gt, 1.0)), float(kornia.metrics.ssim(out, gt, 7).mean())
