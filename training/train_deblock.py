"""Train the pixel decoder's deblock head (decoder.deblock_head) on its own, on compressed clips.

The fallback gate of the pixel decoder returns the degraded frame where the latent path cannot be trusted. On
clips that are compressed but not noisy that is almost the whole frame (the gate sits at ~0.05 there), so the
output was the input, blocking and ringing included. With the deblock head the gate falls back to

    base = lq_t + w · deblock_head(lq_t, lq_t-1, lq_t+1)  (t-1, t+1 warped onto t by block matching with decoder.align,
                                                          with decoder.deblock_frames=2 also t-2, t+2;
                                                          w: 1 on frames without visible noise, 0 on noisy ones)

a small residual CNN at H/2 (the pixel head's design), so the fallback itself removes compression artefacts.
The decoder's own training mixture holds too few compressed-only clips for a head like this to learn there at
CPU scale (training/RUNS.md: codec-heavy mixtures cost noise quality without teaching the restoration path), so
it learns here on its own, everything else frozen, from clips that are all compressed (H.264/H.265, CRF 26-45,
some blur, rescaling and light noise before): `configs/train/deblock.yaml`. The export is the init chain with
the head switched on and trained, its other tensors and inference settings unchanged; `finetune_decoder.py`
can take it as init.

    loss = mean sqrt((base - gt)^2 + eps^2)               (Charbonnier; noise_weight=false trains without w)
        or mean (base - gt)^2                             (loss=mse: what PSNR measures)
        or the two: squares on degraded crops, Charbonnier on clean ones (loss=hybrid; see head_loss)

Clips: `pool` clips are drawn once from the data chain (DataLoader workers run the encoders) and kept in
memory as uint8 (`pool_cache` saves them for later runs); each step takes `batch_size` random crops of
three (deblock_frames=2: five) consecutive frames, so the encoders do not bound the step rate; a `clean_share`
of the crops read the clean frames instead (the target is then the input itself), so the head learns to leave
uncompressed frames alone.

    python training/train_deblock.py init=vidrestore/weights/default.safetensors run_dir=runs/deblock
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from safetensors import safe_open  # noqa: E402

from training import common as C  # noqa: E402
from vidrestore import weights_io as W  # noqa: E402
from vidrestore.models.align import neighbour_flows  # noqa: E402
from vidrestore.models.decoder import deblock_weight  # noqa: E402

DEFAULT = C.REPO / "configs" / "train" / "deblock.yaml"


def draw_pool(cfg, train) -> dict[str, torch.Tensor]:
    """Clips pool_offset..pool_offset+pool-1 of the training chain as uint8 {gt, lq} (N,T,3,h,w); read from / written to
    pool_cache. An offset draws new clips for a later cycle at the memory of one pool (the pool is held whole)."""
    from safetensors.torch import load_file, save_file
    from tqdm import tqdm

    start = int(cfg.get("pool_offset") or 0)
    spec = {"pool": int(cfg.pool), "data": cfg.data, "data_config": cfg.data_config} | ({"pool_offset": start} if start else {})
    key = OmegaConf.to_yaml(OmegaConf.create(spec))  # (offset 0 keeps the key of caches written before the option)
    cache = Path(cfg.pool_cache) if cfg.get("pool_cache") else None
    if cache is not None and cache.is_file():
        with safe_open(str(cache), framework="pt") as f:
            if (f.metadata() or {}).get("key") != key:
                raise C.ConfigError(f"pool_cache {cache} holds clips of another pool or data setting; remove it or name another file")
        return load_file(str(cache))
    if int(cfg.pool) < 1 or start < 0:
        raise C.ConfigError(f"pool must be >= 1 and pool_offset >= 0, got {cfg.pool} and {start}")
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(train, range(start, start + int(cfg.pool))), batch_size=16,
                                         num_workers=int(cfg.workers), collate_fn=C.collate)
    to8 = lambda x: (x.clamp(0, 1) * 255).round().to(torch.uint8)  # noqa: E731
    parts: dict[str, list] = {"gt": [], "lq": []}
    for batch in tqdm(loader, desc="drawing the clip pool", disable=not cfg.progress, dynamic_ncols=True):
        for k in parts:
            parts[k].append(to8(batch[k]))
    pool = {k: torch.cat(v) for k, v in parts.items()}
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.name}.tmp")
        save_file(pool, str(tmp), metadata={"key": key})
        tmp.replace(cache)
    return pool


def crops(pool: dict[str, torch.Tensor], n: int, size: int, g: torch.Generator, clean_share: float = 0.0, r: int = 1,
          with_clean: bool = False):
    """n random crops of frames t-r..t+r of random pool clips -> lq (n*(2r+1),3,s,s) (clip-major) and gt of frame t
    (n,3,s,s). A `clean_share` of them take the clean frames as their input too: the head learns to leave clean frames
    alone (with_clean: also return which, (n,) bool)."""
    N, T, _, H, W = pool["lq"].shape
    i = torch.randint(0, N, (n,), generator=g)
    t = torch.randint(r, T - r, (n,), generator=g)
    y = torch.randint(0, H - size + 1, (n,), generator=g)
    x = torch.randint(0, W - size + 1, (n,), generator=g)
    clean = torch.rand(n, generator=g) < clean_share
    lq = torch.stack([pool["gt" if k else "lq"][a, b - r:b + r + 1, :, c:c + size, d:d + size] for a, b, c, d, k in zip(i, t, y, x, clean)])
    gt = torch.stack([pool["gt"][a, b, :, c:c + size, d:d + size] for a, b, c, d in zip(i, t, y, x)])
    lq, gt = lq.flatten(0, 1).float() / 255, gt.float() / 255
    return (lq, gt, clean) if with_clean else (lq, gt)


LOSSES = ("charbonnier", "mse", "hybrid")


def head_loss(base: torch.Tensor, gt: torch.Tensor, cfg, clean: torch.Tensor | None = None) -> torch.Tensor:
    """The deblock head's loss on frame t: base, gt (n,3,h,w), clean (n,) bool (crops whose input was clean) -> scalar.

    charbonnier: sqrt(d^2 + eps^2), robust, and near a sign gradient it pulls clean crops to the input exactly;
    mse: d^2, what PSNR measures, but tiny changes to clean crops cost it next to nothing;
    hybrid: d^2 / (2 hybrid_scale) on degraded crops (the gradient d / hybrid_scale is ~1 at typical errors, as
    Charbonnier's is), Charbonnier on clean ones."""
    d, kind = base - gt, cfg.get("loss", "charbonnier")
    if kind == "mse":
        return (d**2).mean()
    if kind == "charbonnier":
        return torch.sqrt(d**2 + float(cfg.charbonnier_eps) ** 2).mean()
    squares = d**2 / (2 * float(cfg.hybrid_scale))
    if clean is None:  # no crop read clean frames: squares only
        return squares.mean()
    charb = torch.sqrt(d**2 + float(cfg.charbonnier_eps) ** 2)
    return torch.where(clean[:, None, None, None], charb, squares).mean()


def main(cfg):
    env = C.setup_env(cfg)
    torch.manual_seed(cfg.seed)
    if not cfg.init:
        raise C.ConfigError("train_deblock needs init= a chain export (e.g. vidrestore/weights/default.safetensors)")
    if int(cfg.crop) < 8 or int(cfg.crop) % 2:
        raise C.ConfigError(f"crop must be even and >= 8, got {cfg.crop}")
    if cfg.get("loss", "charbonnier") not in LOSSES:
        raise C.ConfigError(f"loss must be one of {sorted(LOSSES)}, got {cfg.loss!r}")
    chain = C.build_chain(cfg, env)
    dec = chain.pixel_decoder
    if dec.deblock_head is None:
        raise C.ConfigError("the model has no deblock head: keep decoder.deblock_head=true in model_overrides")
    C.freeze(chain)
    head = dec.deblock_head.requires_grad_(True).train()
    ema = C.EMA(head, cfg.ema_decay)
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    ckpt = C.Checkpointer(cfg.run_dir, cfg.keep_checkpoints)
    start = 0
    if (path := ckpt.find(cfg.resume)) is not None:
        start = C.Checkpointer.load(path, {"deblock_head": head}, {"g": opt}, {"deblock_head": ema})
    train, val = C.build_data(cfg)
    pool = draw_pool(cfg, train)
    r = dec.cfg.deblock_frames  # crops of T = 2r+1 frames, t-r..t+r
    T = 2 * r + 1
    if pool["lq"].shape[1] < T or min(pool["lq"].shape[-2:]) < int(cfg.crop):
        raise C.ConfigError(f"pool clips {tuple(pool['lq'].shape[1:])} need >= {T} frames and sides >= crop ({cfg.crop})")
    search = dec.cfg.align_search if dec.cfg.align else 0
    log = C.Logger(cfg, env, start)
    clock = C.Clock(cfg.time_limit_min)
    end = min(cfg.steps, int(cfg.get("stop_at") or cfg.steps))
    step = start
    while step < end:
        step += 1
        g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
        lq, gt, clean = crops(pool, int(cfg.batch_size), int(cfg.crop), g, float(cfg.clean_share), r, with_clean=True)
        lq, gt, clean = lq.to(env.device), gt.to(env.device), clean.to(env.device)
        flows = neighbour_flows(lq, T, r, search, frames=[r], match_scale=dec.cfg.align_match_scale) if search else None  # frame t's only: the loss reads no other
        C.set_lr(opt, C.lr_at(cfg, step))
        with C.autocast(cfg, env):
            x = dec.deblock_input(lq, T, flows, frames=[r])  # frame t of each crop, with its neighbours
            w = deblock_weight(lq[r::T], *dec.cfg.deblock_noise) if cfg.noise_weight else 1.0
            base = lq[r::T] + w * head(x)
            loss = head_loss(base.float(), gt, cfg, clean)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(head.parameters(), cfg.grad_clip)
        opt.step()
        ema.update(head)
        log.step(step, {"loss": loss.item(), "lr": opt.param_groups[0]["lr"]})
        if val is not None and step % cfg.val_every == 0:
            validate(dec, ema, val, cfg, env, log, step)
        if step % cfg.checkpoint_every == 0:
            ckpt.save(step, cfg, {"deblock_head": head}, {"g": opt}, {"deblock_head": ema})
        if clock.out():
            log.bar.write(f"time limit reached at step {step}")
            break
    log.close()
    if step % cfg.checkpoint_every:
        ckpt.save(step, cfg, {"deblock_head": head}, {"g": opt}, {"deblock_head": ema})
    ema.copy_to(head)
    with safe_open(str(W.resolve(cfg.init)), framework="pt") as f:  # the init's metadata (its tensors are in chain)
        trained = (f.metadata() or {}).get("trained") == "true"
    out = C.export_chain(chain, Path(cfg.run_dir) / cfg.export, "deblock", trained=trained, dtype=cfg.export_dtype,
                         deblock_steps=str(step))
    print(f"exported {out} (EMA weights of the deblock head; the rest as init)")


@torch.no_grad()
def validate(dec, ema, val, cfg, env, log, step):
    """PSNR of the fallback target (lq + deblock head) and of the degraded input on fixed held-aside clips under
    each preset of `val_presets` (or the training chain if none)."""
    from vidrestore.synth.degradations import degrade

    search = dec.cfg.align_search if dec.cfg.align else 0
    with C.ema_weights(dec.deblock_head, ema):
        for preset in list(cfg.get("val_presets") or [None]):
            base_psnr = lq_psnr = 0.0
            for i in range(cfg.val_batches):
                item = val[i]
                gt = item["gt"].to(env.device)
                lq = (item["lq"] if preset is None else degrade(item["gt"], preset, seed=i)).to(env.device)
                T = gt.shape[0]
                flows = (neighbour_flows(lq, T, dec.cfg.deblock_frames, search, match_scale=dec.cfg.align_match_scale)
                         if search else None)
                base_psnr += C.psnr_ssim(dec.deblocked(lq, T, flows).clamp(0, 1), gt)[0]
                lq_psnr += C.psnr_ssim(lq, gt)[0]
            tag = preset or "train_chain"
            n = cfg.val_batches
            C.report(log, step, {f"val/{tag}/psnr": base_psnr / n, f"val/{tag}/psnr_lq": lq_psnr / n},
                     f"val {tag}: PSNR {base_psnr / n:.2f} dB (degraded input {lq_psnr / n:.2f})")


if __name__ == "__main__":
    C.run_main(main, __doc__, DEFAULT)
