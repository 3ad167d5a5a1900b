"""Train the LP-VAE progressively (ZipIR).

stage 1: coarse encoder E_c (on the 4x-downsampled frame) + coarse decoder D_c: [z_macro; z_coarse] -> RGB
stage 2: E_c frozen; fine encoder E_f + decoder D_f: [z_macro; z_coarse; z_fine] (64ch) -> RGB
loss:    L1 + perceptual + KL + hinge PatchGAN (adaptive weight, delayed start)

    python training/train_vae.py stage=1 run_dir=runs/vae1
    python training/train_vae.py stage=2 init=runs/vae1/export.safetensors run_dir=runs/vae2
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from einops import rearrange  # noqa: E402

from training import common as C  # noqa: E402
from training.losses import PatchDiscriminator, Perceptual, adaptive_weight, hinge_g_loss  # noqa: E402

DEFAULT = C.REPO / "configs" / "train" / "vae.yaml"


class VAEStage(nn.Module):
    """The trainable part of one stage, so DDP and the optimizer see exactly what learns."""

    def __init__(self, vae, stage: int):
        super().__init__()
        self.vae, self.stage = vae, stage
        if stage == 1:
            self.parts = nn.ModuleList([vae.coarse, vae.coarse_decoder])
            self.last_layer = vae.coarse_decoder.out[2].weight
        else:
            self.parts = nn.ModuleList([vae.fine, vae.decoder])
            self.last_layer = vae.decoder.out[2].weight

    def forward(self, x):
        """x (B,3,H,W) in [0,1] -> (reconstruction, KL)."""
        q_c = self.vae.encode_coarse(x)
        if self.stage == 1:
            z = torch.cat([self.vae.macro(x), q_c.sample()], 1)
            return self.vae.decode_coarse(z), q_c.kl()
        q_f = self.vae.encode_fine(x)
        z = torch.cat([self.vae.macro(x), q_c.mean.detach(), q_f.sample()], 1)
        return self.vae.decode(z), q_f.kl()


def main(cfg):
    if cfg.stage not in (1, 2):
        raise C.ConfigError(f"stage must be 1 or 2, got {cfg.stage}")
    env = C.setup_env(cfg)
    torch.manual_seed(cfg.seed + env.rank)
    chain = C.build_chain(cfg, env)
    vae = chain.vae
    C.freeze(chain)
    model = VAEStage(vae, cfg.stage)
    model.parts.requires_grad_(True).train()
    disc = PatchDiscriminator().to(env.device)
    perceptual = Perceptual(cfg.loss.perceptual).to(env.device)
    opt = torch.optim.AdamW(model.parts.parameters(), lr=cfg.lr, betas=(0.5, 0.9), weight_decay=cfg.weight_decay)
    opt_d = torch.optim.AdamW(disc.parameters(), lr=cfg.loss.disc_lr, betas=(0.5, 0.9))

    ckpt = C.Checkpointer(cfg.run_dir, cfg.keep_checkpoints)
    start = 0
    if (path := ckpt.find(cfg.resume)) is not None:
        start = C.Checkpointer.load(path, {"vae": vae, "disc": disc}, {"g": opt, "d": opt_d}, {})
    model_ddp, disc_ddp = C.ddp(model, env), C.ddp(disc, env)
    loader, val = C.make_loader(cfg, env, start)
    log = C.Logger(cfg, env, start)
    clock = C.Clock(cfg.time_limit_min)
    step = start
    for batch in loader:
        step += 1
        x = rearrange(batch["gt"], "b t c h w -> (b t) c h w").to(env.device)
        use_gan = cfg.loss.gan_weight > 0 and step > cfg.loss.gan_start
        with C.autocast(cfg, env):
            rec, kl = model_ddp(x)
            l1 = (rec - x).abs().mean()
            rec_loss = cfg.loss.l1 * l1 + cfg.loss.perceptual_weight * perceptual(rec.float(), x)
            loss = rec_loss + cfg.loss.kl * kl
            if use_gan:
                g = hinge_g_loss(disc_ddp(rec))
                w = adaptive_weight(rec_loss, g, model.last_layer) if env.world == 1 else torch.tensor(1.0)
                loss = loss + cfg.loss.gan_weight * w * g
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parts.parameters(), cfg.grad_clip)
        opt.step()
        scalars = {"loss": loss.item(), "l1": l1.item(), "kl": kl.item()}
        if use_gan:
            scalars["d_loss"] = C.discriminator_step(disc_ddp, opt_d, x, rec, cfg, env)
        log.step(step, scalars)
        if env.main and step % cfg.image_every == 0:
            log.images(step, "train/input|recon|gt", x[:4], rec[:4].detach(), x[:4])
        if env.main and val is not None and step % cfg.val_every == 0:
            validate(model, val, cfg, env, log, step)
        if env.main and (step % cfg.checkpoint_every == 0 or step == cfg.steps):
            ckpt.save(step, cfg, {"vae": vae, "disc": disc}, {"g": opt, "d": opt_d}, {})
        if clock.out():
            log.bar.write(f"time limit reached at step {step}")
            break
    log.close()
    if env.main and step % cfg.checkpoint_every and step != cfg.steps:
        ckpt.save(step, cfg, {"vae": vae, "disc": disc}, {"g": opt, "d": opt_d}, {})
    if env.main:
        out = C.export_chain(chain, Path(cfg.run_dir) / cfg.export, f"vae{cfg.stage}", trained=False, dtype=cfg.export_dtype, steps=str(step))
        print(f"exported {out}")


@torch.no_grad()
def validate(model, val, cfg, env, log, step):
    scores = []
    with C.ema_weights(model, None):
        for i in range(cfg.val_batches):
            x = val[i]["gt"].to(env.device)
            scores.append(C.psnr_ssim(model(x)[0], x))
    psnr, ssim = (sum(s[k] for s in scores) / len(scores) for k in (0, 1))
    C.report(log, step, {"val/psnr": psnr, "val/ssim": ssim}, f"val PSNR {psnr:.2f} dB, SSIM {ssim:.4f}")

if __name__ == "__main__":
    C.run_main(main, __doc__, DEFAULT)
