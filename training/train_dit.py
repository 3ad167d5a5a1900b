"""Train the latent DiT by rectified flow matching (the LP-VAE is frozen).

    z0   = normalise(E(gt))          target latent            (B*T,64,h,w)
    c    = normalise(E(lq))          condition                (B*T,64,h,w)
    x_t  = t * noise + (1 - t) * z0, t ~ logit-normal
    loss = || DiT(x_t, t, c) - (noise - z0) ||^2

    python training/train_dit.py init=runs/vae2/export.safetensors run_dir=runs/dit
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from einops import rearrange  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from training import common as C  # noqa: E402
from vidrestore.models.sampler import flow_interpolate, flow_target, sample_flow  # noqa: E402

DEFAULT = C.REPO / "configs" / "train" / "dit.yaml"


def flat(x):
    return rearrange(x, "b t c h w -> (b t) c h w")


@torch.no_grad()
def estimate_latent_stats(vae, loader_iter, batches: int, env) -> None:
    """Per-channel mean/std of clean latents -> vae.latent_mean / latent_std (saved with the weights)."""
    zs = [vae.encode(flat(next(loader_iter)["gt"]).to(env.device)) for _ in range(batches)]
    z = torch.cat(zs).transpose(0, 1).flatten(1)  # (64, N)
    mean, std = z.mean(1), z.std(1).clamp_min(1e-3)
    if env.world > 1:
        mean, std = C.mean_across_ranks(mean, env), C.mean_across_ranks(std, env)
    vae.latent_mean.copy_(mean)
    vae.latent_std.copy_(std)


def sample_t(n: int, kind: str, g: torch.Generator) -> torch.Tensor:
    if kind == "uniform":
        return torch.rand(n, generator=g)
    return torch.sigmoid(torch.randn(n, generator=g))


def main(cfg):
    env = C.setup_env(cfg)
    torch.manual_seed(cfg.seed + env.rank)
    if not cfg.init:
        raise C.ConfigError("train_dit needs init= the stage-2 LP-VAE export (runs/vae2/export.safetensors)")
    chain = C.build_chain(cfg, env)
    vae, dit = chain.vae, chain.dit
    C.freeze(chain)
    dit.requires_grad_(True).train()
    ema = C.EMA(dit, cfg.ema_decay)
    opt = torch.optim.AdamW(dit.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    ckpt = C.Checkpointer(cfg.run_dir, cfg.keep_checkpoints)
    start = 0
    if (path := ckpt.find(cfg.resume)) is not None:
        start = C.Checkpointer.load(path, {"chain": chain}, {"dit": opt}, {"dit": ema})
    loader, val = C.make_loader(cfg, env, start)
    if start == 0:
        # statistics from clips of their own (another data seed), independent of the schedule
        stats_cfg = OmegaConf.merge(cfg, {"steps": cfg.latent_stats_batches, "data": {"seed": 999_983}})
        stats_loader, _ = C.make_loader(stats_cfg, env, 0)
        estimate_latent_stats(vae, iter(stats_loader), cfg.latent_stats_batches, env)
        ema = C.EMA(dit, cfg.ema_decay)
    dit_ddp = C.ddp(dit, env)
    log = C.Logger(cfg, env, start)
    clock = C.Clock(cfg.time_limit_min)
    step = start
    for batch in loader:
        step += 1
        g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step * 101 + env.rank)
        with torch.no_grad():
            z0 = vae.normalize(vae.encode(flat(batch["gt"]).to(env.device)))
            cond = vae.normalize(vae.encode(flat(batch["lq"]).to(env.device)))
        noise = torch.randn(z0.shape, generator=g).to(env.device)
        t = sample_t(z0.shape[0], cfg.timestep_sampling, g).to(env.device)
        with C.autocast(cfg, env):
            pred = dit_ddp(flow_interpolate(z0, noise, t), t, cond)
            loss = F.mse_loss(pred.float(), flow_target(z0, noise))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(dit.parameters(), cfg.grad_clip)
        opt.step()
        ema.update(dit)
        log.step(step, {"loss": loss.item()})
        if env.main and val is not None and step % cfg.val_every == 0:
            validate(chain, ema, val, cfg, env, log, step)
        if env.main and (step % cfg.checkpoint_every == 0 or step == cfg.steps):
            ckpt.save(step, cfg, {"chain": chain}, {"dit": opt}, {"dit": ema})
        if clock.out():
            log.bar.write(f"time limit reached at step {step}")
            break
    log.close()
    if env.main and step % cfg.checkpoint_every and step != cfg.steps:
        ckpt.save(step, cfg, {"chain": chain}, {"dit": opt}, {"dit": ema})
    if env.main:
        ema.copy_to(dit)
        out = C.export_chain(chain, Path(cfg.run_dir) / cfg.export, "dit", trained=False, dtype=cfg.export_dtype, steps=str(step))
        print(f"exported {out} (EMA weights)")


@torch.no_grad()
def validate(chain, ema, val, cfg, env, log, step):
    """PSNR of VAE-decoded DiT samples vs the VAE-decoded degraded latent (both vs GT)."""
    vae = chain.vae
    res, base = [], []
    with C.ema_weights(chain.dit, ema) as dit:
        for i in range(cfg.val_batches):
            item = val[i]
            gt, lq = item["gt"].to(env.device), item["lq"].to(env.device)
            cond = vae.normalize(vae.encode(lq))
            noise = torch.randn((1, *cond.shape[1:]), generator=torch.Generator().manual_seed(i)).to(env.device)
            z = vae.denormalize(sample_flow(dit, cond, noise, cfg.val_steps))
            res.append(C.psnr_ssim(vae.decode(z), gt)[0])
            base.append(C.psnr_ssim(vae.decode(vae.denormalize(cond)), gt)[0])
    psnr, psnr_lq = sum(res) / len(res), sum(base) / len(base)
    C.report(log, step, {"val/psnr_dit": psnr, "val/psnr_lq_latent": psnr_lq},
             f"val PSNR DiT {psnr:.2f} dB (degraded latent {psnr_lq:.2f} dB)")

if __name__ == "__main__":
    C.run_main(main, __doc__, DEFAULT)
