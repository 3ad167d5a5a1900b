"""Fine-tune the temporal pixel-aware decoder (ZipIR's pixel-aware decoder + temporal layers).

Frozen: LP-VAE encoders and the DiT. Trained: the LQ branch (a copy of the fine encoder reading the
degraded frames), the decoder, the temporal layers, the fallback (confidence) head.

    z    = clean latent | clean latent + noise | DiT restoration of the degraded latent (latent=dit)
    out  = decoder(z, degraded frames, T)                                  (B*T,3,H,W)
           [then, with loss.refine > 0, the inference-time guided refinement of that strength]
    loss = L1 + perceptual + temporal(frame differences) + hinge 3D PatchGAN (adaptive weight)
           + L1 of the restoration path before the fallback gate (aux_rgb)
           + no-harm: per clip, the log-MSE by which the output is worse than the degraded input
           + PSNR loss: per clip, the log-MSE of the output (loss.psnr)

train_parts=[confidence] trains only the named parts of the decoder (here the fallback gate: a short fit
of where to trust the restoration, against PSNR with loss.psnr); the rest stays as init left it.

The fallback head lets the decoder return the degraded input where the latent is wrong instead of
inventing content; the losses (reconstruction against GT) teach it where.

    python training/finetune_decoder.py init=runs/dit/export.safetensors run_dir=runs/decoder
    torchrun --nproc_per_node=8 training/finetune_decoder.py init=... batch_size=8 precision=bf16
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from einops import rearrange  # noqa: E402

from training import common as C  # noqa: E402
from training.losses import (PatchDiscriminator, Perceptual, adaptive_weight,  # noqa: E402
                             hinge_g_loss, log_mse_loss, no_harm_loss, temporal_difference_loss)
from vidrestore.models.refine import guided_refine  # noqa: E402
from vidrestore.models.sampler import sample_flow  # noqa: E402

DEFAULT = C.REPO / "configs" / "train" / "decoder.yaml"


@torch.no_grad()
def decoder_latent(chain, gt, lq, cfg, g: torch.Generator):
    """gt, lq (B*T,3,H,W) -> the latent the decoder learns from (B*T,64,h,w)."""
    vae = chain.vae
    if cfg.latent == "clean":
        return vae.encode(gt)
    if cfg.latent == "noisy":
        z = vae.normalize(vae.encode(gt))
        return vae.denormalize(z + cfg.latent_noise * torch.randn(z.shape, generator=g).to(z))
    if cfg.latent == "dit":
        cond = vae.normalize(vae.encode(lq))
        noise = torch.randn((1, *cond.shape[1:]), generator=g).to(cond)  # shared by the clip's frames
        return vae.denormalize(sample_flow(chain.dit, cond, noise, cfg.latent_steps))
    raise C.ConfigError(f"latent must be clean, noisy or dit, got '{cfg.latent}'")


def refined(out: torch.Tensor, lq: torch.Tensor, cfg) -> torch.Tensor:
    """The output as inference returns it: the guided refinement of strength loss.refine (0: out itself)."""
    loss = cfg.loss
    return guided_refine(out, lq, float(loss.get("refine", 0)), int(loss.get("refine_kernel", 5)), int(loss.get("refine_passes", 2)),
                         float(loss.get("refine_detail", 0)), int(loss.get("refine_detail_kernel", 9)))


def main(cfg):
    env = C.setup_env(cfg)
    torch.manual_seed(cfg.seed + env.rank)
    if not cfg.init:
        raise C.ConfigError("finetune_decoder needs init= a chain export (runs/dit/export.safetensors)")
    chain = C.build_chain(cfg, env)
    dec = chain.pixel_decoder
    C.freeze(chain)
    dec.requires_grad_(True).train()
    parts = dict(dec.named_children())
    if cfg.get("train_parts"):  # only these learn (their gradients need no backward through the others' weights)
        unknown = [n for n in cfg.train_parts if n not in parts]
        if unknown:
            raise C.ConfigError(f"train_parts: the decoder has no part {', '.join(map(repr, unknown))} (parts: {', '.join(parts)})")
        dec.requires_grad_(False)
        for n in cfg.train_parts:
            parts[n].requires_grad_(True)
    disc = PatchDiscriminator(temporal=True).to(env.device)
    perceptual = Perceptual(cfg.loss.perceptual).to(env.device)
    ema = C.EMA(dec, cfg.ema_decay)
    # LR factors per part: add-ons switched on over init (they start fresh) at lr_fresh_mult, parts named in
    # lr_mults (top-level modules of the decoder, e.g. lr_mults.pixel_head=5) at theirs; the rest at 1
    mults = {p.removeprefix("pixel_decoder."): float(cfg.get("lr_fresh_mult", 1.0)) for p in getattr(chain, "fresh", [])}
    for name, m in (cfg.get("lr_mults") or {}).items():
        if name not in parts:
            raise C.ConfigError(f"lr_mults: the decoder has no part '{name}' (parts: {', '.join(parts)})")
        mults[f"{name}."] = float(m)
    groups: dict[float, list] = {}
    for n, p in dec.named_parameters():
        if not p.requires_grad:
            continue
        groups.setdefault(next((m for prefix, m in mults.items() if n.startswith(prefix)), 1.0), []).append(p)
    opt = torch.optim.AdamW([{"params": ps, "lr_mult": m} for m, ps in groups.items()], lr=cfg.lr, betas=tuple(cfg.betas),
                            weight_decay=cfg.weight_decay)
    opt_d = torch.optim.AdamW(disc.parameters(), lr=cfg.loss.disc_lr, betas=(0.5, 0.9))

    ckpt = C.Checkpointer(cfg.run_dir, cfg.keep_checkpoints)
    start = 0
    if (path := ckpt.find(cfg.resume)) is not None:
        start = C.Checkpointer.load(path, {"decoder": dec, "disc": disc}, {"g": opt, "d": opt_d}, {"decoder": ema})
    dec_ddp, disc_ddp = C.ddp(dec, env), C.ddp(disc, env)
    loader, val = C.make_loader(cfg, env, start)
    log = C.Logger(cfg, env, start)
    clock = C.Clock(cfg.time_limit_min)
    last_layer = dec.decoder.out[2].weight
    step = start
    for batch in loader:
        step += 1
        B, T = batch["gt"].shape[:2]
        gt = rearrange(batch["gt"], "b t c h w -> (b t) c h w").to(env.device)
        lq = rearrange(batch["lq"], "b t c h w -> (b t) c h w").to(env.device)
        g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step * 101 + env.rank)
        z = decoder_latent(chain, gt, lq, cfg, g)
        C.set_lr(opt, C.lr_at(cfg, step))
        use_gan = cfg.loss.gan_weight > 0 and step > cfg.loss.gan_start
        with C.autocast(cfg, env):
            parts = dec_ddp(z, lq, T, parts=True)
            out = refined(parts["out"], lq, cfg)
            l1 = (out - gt).abs().mean()
            clip = lambda x: rearrange(x, "(b t) c h w -> b t c h w", t=T)
            rec = cfg.loss.l1 * l1 + cfg.loss.perceptual_weight * perceptual(out.float(), gt)
            # the restoration path is always taught directly, so the fallback gate cannot starve it
            rec = rec + cfg.loss.aux_rgb * (parts["rgb"] - gt).abs().mean()
            rec = rec + cfg.loss.temporal * temporal_difference_loss(clip(out), clip(gt))
            if cfg.loss.get("no_harm", 0):  # do not degrade what is already (almost) clean
                rec = rec + cfg.loss.no_harm * no_harm_loss(clip(out), clip(lq), clip(gt))
            if cfg.loss.get("psnr", 0):
                rec = rec + cfg.loss.psnr * log_mse_loss(clip(out), clip(gt))
            loss = rec
            if use_gan:
                g_loss = hinge_g_loss(disc_ddp(rearrange(out, "(b t) c h w -> b c t h w", t=T)))
                # (the adaptive weight needs the gradient at the decoder's last layer: 1 where train_parts froze it)
                w = adaptive_weight(rec, g_loss, last_layer) if env.world == 1 and last_layer.requires_grad else torch.tensor(1.0)
                loss = loss + cfg.loss.gan_weight * w * g_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(dec.parameters(), cfg.grad_clip)
        opt.step()
        ema.update(dec)
        scalars = {"loss": loss.item(), "l1": l1.item(), "lr": opt.param_groups[0]["lr"]}
        if parts["m"] is not None:
            scalars["gate"] = parts["m"].mean().item()
        if use_gan:
            to3d = lambda x: rearrange(x, "(b t) c h w -> b c t h w", t=T)
            scalars["d_loss"] = C.discriminator_step(disc_ddp, opt_d, to3d(gt), to3d(out), cfg, env)
        log.step(step, scalars)
        if env.main and step % cfg.image_every == 0:
            log.images(step, "train/lq|out|gt", lq[:T], out[:T].detach(), gt[:T])
        if env.main and val is not None and step % cfg.val_every == 0:
            validate(chain, ema, val, cfg, env, log, step)
        if env.main and (step % cfg.checkpoint_every == 0 or step == cfg.steps):
            ckpt.save(step, cfg, {"decoder": dec, "disc": disc}, {"g": opt, "d": opt_d}, {"decoder": ema})
        if clock.out():
            log.bar.write(f"time limit reached at step {step}")
            break
    log.close()
    if env.main and step % cfg.checkpoint_every and step != cfg.steps:
        ckpt.save(step, cfg, {"decoder": dec, "disc": disc}, {"g": opt, "d": opt_d}, {"decoder": ema})
    if env.main:
        ema.copy_to(dec)
        complete = {"vae2", "dit"} <= set(getattr(chain, "stages", []))
        out = C.export_chain(chain, Path(cfg.run_dir) / cfg.export, "decoder", trained=bool(cfg.trained and complete), dtype=cfg.export_dtype,
                             steps=str(step), latent=cfg.latent, perceptual=cfg.loss.perceptual)
        print(f"exported {out} (EMA weights)")


@torch.no_grad()
def validate(chain, ema, val, cfg, env, log, step):
    """PSNR of the output, of the restoration path before the gate, and of the degraded input on
    fixed held-aside clips under each preset of `val_presets` (or the training chain if none)."""
    from vidrestore.synth.degradations import degrade

    presets = list(cfg.get("val_presets") or [None])
    with C.ema_weights(chain.pixel_decoder, ema) as dec:
        for preset in presets:
            sums = {"out": 0.0, "rgb": 0.0, "lq": 0.0, "ssim": 0.0, "gate": 0.0}
            for i in range(cfg.val_batches):
                item = val[i]
                gt = item["gt"].to(env.device)
                lq = item["lq"] if preset is None else degrade(item["gt"], preset, seed=i)
                lq = lq.to(env.device)
                z = decoder_latent(chain, gt, lq, cfg, torch.Generator().manual_seed(i))
                parts = dec(z, lq, gt.shape[0], parts=True)
                psnr, ssim = C.psnr_ssim(refined(parts["out"], lq, cfg), gt)
                sums["out"] += psnr
                sums["ssim"] += ssim
                sums["rgb"] += C.psnr_ssim(parts["rgb"], gt)[0]
                sums["lq"] += C.psnr_ssim(lq, gt)[0]
                sums["gate"] += float(parts["m"].mean()) if parts["m"] is not None else 1.0
            avg = {k: v / cfg.val_batches for k, v in sums.items()}
            tag = preset or "train_chain"
            C.report(log, step, {f"val/{tag}/psnr": avg["out"], f"val/{tag}/psnr_rgb": avg["rgb"], f"val/{tag}/ssim": avg["ssim"],
                                 f"val/{tag}/gate": avg["gate"]},
                     f"val {tag}: PSNR {avg['out']:.2f} dB (restoration path {avg['rgb']:.2f}, degraded input {avg['lq']:.2f}), "
                     f"SSIM {avg['ssim']:.4f}, gate {avg['gate']:.3f}")


if __name__ == "__main__":
    C.run_main(main, __doc__, DEFAULT)
