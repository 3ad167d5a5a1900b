"""Temporal pixel-aware decoder (ZipIR's pixel-aware decoder + temporal layers for video).

    z (B*T,64,h,w) --> Decoder levels  H/32 --up--> H/16 --up--> H/8 --up--> H/4 --> RGB (pixel-shuffle x4)
                          after level i:   h  = g_i * h + LQProj_i(LQ feature at the same scale)
                                                   (1x1 zero-init, g_i = 1; residual: LQProj random, g_H/4 = 0.1)
                                           h  = AlphaBlend(h, TemporalResBlock(h))       ((k,s,s) kernel over frames, zero-init)
                                           h  = Refine_i(h)                              (ResBlocks on the merged features)
                          at H/32 only:    h += NVSM-SA(h)                                (LIPT, zero-init proj)
    degraded frames (B*T,3,H,W) --> LQ branch = copy of the fine encoder (initialised from it); with
            `lq_neighbours` its stem also reads frames t-1 and t+1 (and t-2, t+2: `lq_neighbour_frames`;
            zero-init convs), so the finest features see the neighbouring pixels within the stem's reach
            (+-8 px); with `align` those frames are first warped onto frame t by block matching
            (models/align.py), so the stem sees the same content even where it moved further
    output: rgb = decoded frame, or lq + decoded correction (`residual`, zero at init)
            out = lq + m * (rgb - lq),  m = sigmoid(confidence head, soft-clamped to [-6, 6]): falls
            back to the degraded input where the restoration cannot be trusted (the clamp keeps the
            gate from saturating shut, which would stop the restoration path from learning); with
            `deblock_head` it falls back to lq + deblock_head(lq at t-1, t, t+1; deblock_frames=2: t-2..t+2)
            instead: a small residual CNN at H/2 trained on compressed clips (training/train_deblock.py), so that
            where the latent path cannot beat the input (compression artefacts without noise) the
            output is the input with its blocking and ringing reduced, not the input as it is;
            then a final zero-init temporal conv ((3,1,1) over frames, with `align` over the neighbours
            warped onto frame t, with `out_far` plus a second zero-init conv over the warped t-2, t+2;
            with `out_gate` its step is scaled per pixel by a gate in [0, 2] that sees the frame
            differences and the features).
            With `pixel_head` a small residual CNN at H/2 refines that output from the frame itself, the
            degraded frame and the neighbours the output filter read (zero-init last conv): every other
            layer works at H/4 or coarser and decodes 4x4 pixels per feature vector, which leaves
            pixel-scale noise and detail to this head.
            With `deblock_temporal` (kappa > 0) the frames the deblock head runs on are finally averaged with
            their neighbours t-2..t+2 warped onto them, each weighted per pixel by exp(-d / h2) (d: their local
            squared difference; h2: kappa x the local square of the head's correction, capped): compression
            errors differ from frame to frame, and where the head corrected nothing (clean frames) nothing moves.

Motion: the temporal res-blocks mix each frame with its neighbours through (k, s, s) kernels; with
s = 3 a block reaches +-1 feature pixel, i.e. +-4 px of motion at H/4 and +-32 px at H/32, so the
temporal layers can follow moving content instead of averaging misaligned pixels (s = 1).

At initialisation the decoder is the VAE decoder (LQ injections zero, temporal layers no-ops); in
residual mode its output layer is zero, so it starts as the identity on the degraded frames, and the
finest level starts dominated by the LQ features (g_H/4 = 0.1): the detail path learns at the pace of
a plain residual CNN while the latent/coarse context learns alongside.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from vidrestore.config import FINE_CH
from vidrestore.models.align import (MATCH_SCALES, box_mean_inside, clip_rows, neighbour_flows, stack_neighbours, temporal_mean,
                                     warp_neighbours)
from vidrestore.models.layers import LayerNorm2d, ResBlock, by_frames
from vidrestore.models.lpvae import Decoder, PyramidEncoder


def zero_(m: nn.Module) -> nn.Module:
    for p in m.parameters():
        nn.init.zeros_(p)
    return m


def output_radius(cfg) -> int:
    """Frames on each side the output temporal filter (and the pixel head) reads: t-1, t+1, or with
    `out_far` t-2..t+2; 0 without temporal layers."""
    if not cfg.temporal:
        return 0
    return 2 if cfg.out_far else cfg.temporal_kernel // 2


def within(flows: torch.Tensor, r: int) -> torch.Tensor:
    """The flows of frames t-r..t+r out of those of t-R..t+R: (N,2R,2,H,W) -> (N,2r,2,H,W)."""
    R = flows.shape[1] // 2
    return flows[:, R - r:R + r]


def estimate_noise(x: torch.Tensor) -> torch.Tensor:
    """Robust noise σ of each frame from its finest Haar diagonal band (Donoho: median |HH| / 0.6745):
    (N,C,H,W) in [0,1] -> (N,) in [0,1] units. Measured on moving Kodak clips (0-255 units): clean 1.1-2.9,
    H.264 CRF 37 0-0.9 (CRF 30 after σ = 10 noise: 0-2.0; the codec removes that band), AWGN σ = 5 5.4-6.8,
    σ = 10 10.2-11.3, σ = 25 24.3-25.0."""
    x = x[..., : x.shape[-2] // 2 * 2, : x.shape[-1] // 2 * 2]
    hh = (x[..., 0::2, 0::2] - x[..., 0::2, 1::2] - x[..., 1::2, 0::2] + x[..., 1::2, 1::2]) / 2
    return hh.abs().flatten(1).median(dim=1).values / 0.6745


def deblock_weight(lq: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """(N,3,H,W) -> (N,1,1,1): 1 where the frame's estimated noise σ is below lo, 0 above hi (0-255 units), linear
    between. The deblock head learnt on compressed clips; on noisy ones (σ = 25: the fallback gate sits at ~0.7 and
    passes 30 % of the base) it cost 0.15 dB, so there the base stays the degraded frame itself."""
    s = estimate_noise(lq.float()) * 255
    return ((hi - s) / max(hi - lo, 1e-6)).clamp(0, 1).view(-1, 1, 1, 1).to(lq.dtype)


def deblock_scale(correction: torch.Tensor, kappa: float, h_max: float, box: int = 9) -> torch.Tensor:
    """h2 of the temporal mean on compressed frames from the deblock head's correction c (N,3,H,W) -> (N,1,H,W):
    kappa x the local mean of c^2 (box x box), at most h_max^2. Neighbours count as far as they differ by about what the
    head found to correct there: on clean frames (c ~ 0.1/255) they barely count, on CRF 37 (c ~ 1-4/255) they do."""
    return (kappa * box_mean_inside(correction.float().pow(2).mean(1, keepdim=True), box)).clamp(max=h_max**2)


class TemporalResBlock(nn.Module):
    """Residual block across neighbouring frames: (B*T,C,h,w) -> same.

    conv1 sees frames t-k..t+k stacked on channels (a (2k+1, s, s) spatio-temporal kernel, run as a
    Conv2d because CPUs run those several times faster than Conv3d); conv2 is a zero-init 1x1.
    Frames are replicated at the clip's ends, so the first/last frame and 1-frame clips work."""

    def __init__(self, ch: int, k: int = 3, s: int = 1):
        super().__init__()
        self.k = k
        self.conv1 = nn.Conv2d(k * ch, ch, s, padding=s // 2)
        self.conv2 = zero_(nn.Conv2d(ch, ch, 1))

    def forward(self, x: torch.Tensor, T: int) -> torch.Tensor:
        return x + self.conv2(F.silu(self.conv1(stack_neighbours(x, T, self.k // 2))))


class AlphaBlender(nn.Module):
    """Learned mix of the spatial and temporal paths: x_s + (1 - a) * (x_t - x_s), a = sigmoid(w)."""

    def __init__(self, init: float = 0.0):
        super().__init__()
        self.mix = nn.Parameter(torch.tensor(init))

    def forward(self, x_spatial, x_temporal):
        return torch.lerp(x_spatial, x_temporal, 1 - torch.sigmoid(self.mix))


class MotionGate(nn.Module):
    """Per-pixel gate on the output temporal filter: where frames t-1/t+1 disagree with frame t
    (motion, occlusion) a fixed (3,1,1) filter averages misaligned pixels and blurs; where they agree
    (static content, noise) it denoises. g = 1 + tanh(motion term + feature term), zero-init (g = 1:
    the plain filter); the feature term lets the decoder say how much noise the difference holds.

        x (B*T,3,H,W), feat (B*T,C,H/4,W/4) -> g (B*T,1,H,W) in [0, 2]"""

    def __init__(self, ch: int, blur: int = 5):
        super().__init__()
        self.blur = blur
        self.motion = zero_(nn.Conv2d(2, 1, 3, padding=1))  # |x_t-1 - x_t|, |x_t+1 - x_t| (blurred frames)
        self.feature = nn.Sequential(LayerNorm2d(ch), zero_(nn.Conv2d(ch, 16, 3, padding=1)), nn.PixelShuffle(4))

    def forward(self, x: torch.Tensor, feat: torch.Tensor, T: int, neighbours: torch.Tensor | None = None) -> torch.Tensor:
        """neighbours: frames t-1, t+1 (B*T,6,H,W) as the output filter reads them (aligned onto frame t),
        by default x's own neighbours as they are."""
        blur = lambda v: box_mean_inside(v, self.blur)  # noqa: E731
        s = blur(x)
        nb = blur(neighbours) if neighbours is not None else stack_neighbours(s, T, 1, centre=False)
        prev, nxt = nb.chunk(2, dim=1)  # frames t-1, t+1 (replicated at the ends)
        diff = torch.stack([(prev - s).abs().mean(1), (nxt - s).abs().mean(1)], dim=1)  # (B*T,2,H,W)
        return 1 + torch.tanh(self.motion(diff) + self.feature(feat))


class NVSMAttention(nn.Module):
    """LIPT non-volatile sparse-masking self-attention: each w x w query window attends to a
    2w x 2w neighbourhood sampled with a fixed stride-2 mask, i.e. w*w keys: twice the reach at the
    cost of plain window attention. (B,C,H,W) -> (B,C,H,W), H and W padded internally."""

    def __init__(self, ch: int, window: int, heads: int = 4):
        super().__init__()
        self.w, self.heads = window, heads
        self.norm = LayerNorm2d(ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.proj = zero_(nn.Conv2d(ch, ch, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        w = self.w
        ph, pw = -H % w, -W % w
        q, k, v = self.qkv(self.norm(x)).chunk(3, dim=1)
        q = F.pad(q, (0, pw, 0, ph), mode="replicate")
        Hp, Wp = H + ph, W + pw
        q = rearrange(q, "b (g c) (nh w1) (nw w2) -> (b nh nw) g (w1 w2) c", g=self.heads, w1=w, w2=w)
        # keys/values: 2w x 2w neighbourhood centred on the window, every second pixel (fixed mask)
        kv = torch.cat([k, v], dim=1)
        kv = F.pad(kv, (w // 2, w // 2 + pw, w // 2, w // 2 + ph), mode="replicate")
        kv = F.unfold(kv, kernel_size=w, dilation=2, stride=w)  # (B, 2C*w*w, windows)
        kv = rearrange(kv, "b (two g c n) l -> two (b l) g n c", two=2, g=self.heads, n=w * w)
        out = F.scaled_dot_product_attention(q, kv[0], kv[1])  # (B*windows, heads, w*w, C/heads)
        out = rearrange(out, "(b nh nw) g (w1 w2) c -> b (g c) (nh w1) (nw w2)", b=B, nh=Hp // w, w1=w)
        return x + self.proj(out[..., :H, :W])


class PixelHead(nn.Module):
    """Residual refinement at H/2 (FFDNet-like): the decoder's output, the degraded frame and the
    aligned neighbours -> pixel-unshuffle x2 -> conv -> ResBlocks -> zero-init conv -> pixel-shuffle x2.
    The deblock head has the same form, reading the degraded frames t, t-1, t+1 only.

        x (B*T, cin, H, W) -> correction (B*T, 3, H, W), zero at init"""

    def __init__(self, cin: int, ch: int, blocks: int):
        super().__init__()
        self.inp = nn.Sequential(nn.PixelUnshuffle(2), nn.Conv2d(4 * cin, ch, 3, padding=1))
        self.body = nn.Sequential(*[ResBlock(ch) for _ in range(blocks)])
        self.out = nn.Sequential(zero_(nn.Conv2d(ch, 4 * 3, 3, padding=1)), nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return by_frames(lambda part: self.out(self.body(self.inp(part))), x)  # (CPU inference: a few frames at a time)

    @torch.no_grad()
    def identity_blocks(self, start: int) -> None:
        """Make blocks start.. identities (their last conv zero): a trained head deepened by appending blocks
        computes what it computed before, and the new blocks learn from there."""
        for block in self.body[start:]:
            zero_(block.conv2)


class TemporalPixelDecoder(nn.Module):
    def __init__(self, vae_cfg, cfg):
        super().__init__()
        self.cfg = cfg
        chans = list(vae_cfg.decoder_channels)
        self.decoder = Decoder(chans, blocks=vae_cfg.blocks)
        self.lq_branch = PyramidEncoder(list(vae_cfg.fine_channels), FINE_CH, vae_cfg.blocks) if cfg.lq_branch else None
        if self.lq_branch is not None:
            del self.lq_branch.out  # only its multi-scale features are used
            lq_chans = list(vae_cfg.fine_channels)[::-1]  # H/32 first, like the decoder levels
            self.lq_proj = nn.ModuleList([zero_(nn.Conv2d(c_lq, c, 1)) for c_lq, c in zip(lq_chans, chans)])
            if cfg.lq_neighbours:  # frames t-1, t+1 -> pixel-unshuffle x4 -> added to the LQ stem's output
                if cfg.lq_neighbour_frames not in (1, 2):
                    raise ValueError(f"decoder.lq_neighbour_frames must be 1 or 2, got {cfg.lq_neighbour_frames}")

                def stem() -> nn.Module:
                    return nn.Sequential(nn.PixelUnshuffle(4), zero_(nn.Conv2d(2 * 3 * 16, vae_cfg.fine_channels[0], 3, padding=1)))

                self.lq_neighbour_stem = stem()
                self.lq_far_stem = stem() if cfg.lq_neighbour_frames == 2 else None  # frames t-2, t+2
        if cfg.align and cfg.align_search < 1:
            raise ValueError(f"decoder.align_search must be >= 1, got {cfg.align_search}")
        if cfg.align and cfg.align_match_scale not in MATCH_SCALES:
            raise ValueError(f"decoder.align_match_scale must be one of {MATCH_SCALES}, got {cfg.align_match_scale}")
        if len(cfg.refine_blocks) != len(chans):
            raise ValueError(f"decoder.refine_blocks needs one count per decoder level ({len(chans)}), got {list(cfg.refine_blocks)}")
        self.refine = nn.ModuleList([nn.Sequential(*[ResBlock(c, c * cfg.refine_expand) for _ in range(n)])
                                     for c, n in zip(chans, cfg.refine_blocks)])
        if cfg.temporal:
            self.temporal = nn.ModuleList([TemporalResBlock(c, cfg.temporal_kernel, cfg.temporal_spatial) for c in chans])
            self.blend = nn.ModuleList([AlphaBlender() for _ in chans])
            self.out_temporal = zero_(nn.Conv3d(3, 3, (cfg.temporal_kernel, 1, 1)))
            self.out_gate = MotionGate(chans[-1]) if cfg.out_gate else None
            if cfg.out_far and not (cfg.align and cfg.temporal_kernel == 3):
                raise ValueError("decoder.out_far needs decoder.align and temporal_kernel 3 (it adds the aligned t-2, t+2)")
            self.out_far = zero_(nn.Conv3d(3, 3, (2, 1, 1))) if cfg.out_far else None  # frames t-2, t+2
        # input: the output, the degraded frame, and the neighbours of the output filter
        self.pixel_head = PixelHead(6 + 6 * output_radius(cfg), cfg.pixel_head_channels, cfg.pixel_head_blocks) if cfg.pixel_head else None
        if cfg.deblock_head and not cfg.fallback:
            raise ValueError("decoder.deblock_head needs decoder.fallback (it is what the fallback gate blends towards)")
        if cfg.deblock_temporal and not (cfg.deblock_head and cfg.align):
            raise ValueError("decoder.deblock_temporal needs decoder.deblock_head and decoder.align (it averages the frames the head "
                             "runs on with their aligned neighbours)")
        if cfg.deblock_temporal < 0 or cfg.deblock_temporal_max < 0:
            raise ValueError(f"decoder.deblock_temporal and deblock_temporal_max must be >= 0, got {cfg.deblock_temporal}, "
                             f"{cfg.deblock_temporal_max}")
        if cfg.deblock_head and cfg.deblock_frames not in (1, 2):
            raise ValueError(f"decoder.deblock_frames must be 1 or 2, got {cfg.deblock_frames}")
        # input: frames t-r..t+r of the degraded clip, r = deblock_frames (the neighbours warped onto t with `align`)
        self.deblock_head = (PixelHead(3 + 6 * cfg.deblock_frames, cfg.deblock_head_channels, cfg.deblock_head_blocks)
                             if cfg.deblock_head else None)
        # gain of the decoder stream where each level's LQ feature joins it. Residual mode starts the
        # finest one at 0.1: the VAE decoder's stream (large, not yet useful for restoration) would
        # otherwise swamp the degraded frame's detail path and slow its learning ~2x; not at 0, which
        # cuts the coarse path's gradient so that it never learns (seen in training)
        self.stream_gain = nn.Parameter(torch.ones(len(chans)))
        self.nvsm = NVSMAttention(chans[0], cfg.nvsm_window) if cfg.nvsm_attention else None
        if cfg.fallback:
            # (normalised input: the gate's logits move at the same pace whatever the features' scale)
            self.confidence = nn.Sequential(LayerNorm2d(chans[-1]), nn.Conv2d(chans[-1], 16, 3, padding=1), nn.PixelShuffle(4))
            nn.init.zeros_(self.confidence[1].weight)
            nn.init.constant_(self.confidence[1].bias, 6.0)  # sigmoid(6) ~ 0.998: trust the latent at first

    def init_from_vae(self, vae) -> None:
        """Copy the VAE decoder into the decoder and the fine encoder into the LQ branch."""
        self.decoder.load_state_dict(vae.decoder.state_dict())
        if self.lq_branch is not None:
            state = {k: v for k, v in vae.fine.state_dict().items() if not k.startswith("out.")}
            self.lq_branch.load_state_dict(state)
        if self.cfg.residual:
            self.reset_output()

    @torch.no_grad()
    def reset_output(self) -> None:
        """Residual mode starts as the identity: zero correction, gate open. The zero output layer
        already makes the decoder the identity, so the LQ injections start random (zero as well,
        they would receive no gradient until the output layer had grown)."""
        zero_(self.decoder.out[2])
        self.stream_gain.data[-1] = 0.1
        if self.lq_branch is not None:
            for proj in self.lq_proj:
                proj.reset_parameters()
        if self.cfg.fallback:
            nn.init.zeros_(self.confidence[1].weight)
            nn.init.constant_(self.confidence[1].bias, 2.0)

    def neighbour_features(self, x: torch.Tensor, T: int, flows: torch.Tensor | None) -> torch.Tensor:
        """Frames t-r..t+r but t (warped onto frame t when flows are given) -> (B*T, c0, H/4, W/4) for the LQ stem."""
        r = self.cfg.lq_neighbour_frames
        nb = warp_neighbours(x, T, within(flows, r)) if flows is not None else stack_neighbours(x, T, r, centre=False)
        frames = nb.chunk(2 * r, dim=1)  # t-r .. t-1, t+1 .. t+r
        out = self.lq_neighbour_stem(torch.cat([frames[r - 1], frames[r]], dim=1))
        if r == 2:
            out = out + self.lq_far_stem(torch.cat([frames[0], frames[3]], dim=1))
        return out

    def deblock_input(self, lq: torch.Tensor, T: int, flows: torch.Tensor | None = None, frames: list[int] | None = None) -> torch.Tensor:
        """Frames t, t-r..t-1, t+1..t+r (r = deblock_frames) of the degraded clip for the deblock head:
        (B*T,3,H,W) -> (B*T,3+6r,H,W); the neighbours warped onto frame t when flows (B*T,2R,2,H,W), R >= r, are given
        (as they are in `forward` with `align`). With `frames`, only those frames of each clip (B*len(frames) rows;
        flows from neighbour_flows(..., frames))."""
        r = self.cfg.deblock_frames
        rows = slice(None) if frames is None else clip_rows(lq.shape[0] // T, T, frames)
        if flows is not None:
            nb = warp_neighbours(lq, T, within(flows, r), frames)
        else:
            nb = stack_neighbours(lq, T, r, centre=False)[rows]
        return torch.cat([lq[rows], nb], dim=1)

    def deblocked(self, lq: torch.Tensor, T: int, flows: torch.Tensor | None = None, w: torch.Tensor | None = None) -> torch.Tensor:
        """The fallback target: lq (B*T,3,H,W) plus the deblock head's correction (B*T,3,H,W), weighted per frame by
        w = `deblock_weight` (computed here unless given): the head is a compression specialist, so it stays off on
        frames that hold visible noise."""
        w = deblock_weight(lq, *self.cfg.deblock_noise) if w is None else w  # (B*T,1,1,1)
        on = w.flatten().nonzero().flatten()  # the head runs on those frames only (noisy windows cost nothing)
        if on.numel() == 0:
            return lq
        x = self.deblock_input(lq, T, flows)[on]  # (n,3+6r,H,W)
        return lq.index_add(0, on, (w[on] * self.deblock_head(x)).to(lq.dtype))  # (autocast: the head may run in bf16)

    def forward(self, z: torch.Tensor, lq: torch.Tensor, T: int, parts: bool = False):
        """z (B*T,64,h,w), lq (B*T,3,32h,32w) in [0,1], frames grouped per clip -> (B*T,3,32h,32w).
        parts=True returns dict(out, rgb (before the fallback gate), m, base (what the gate falls back to)) for training losses."""
        flows = (neighbour_flows(lq, T, self.align_radius, self.cfg.align_search, match_scale=self.cfg.align_match_scale)
                 if self.align_radius else None)
        lq_feats = None
        if self.lq_branch is not None:
            x = lq * 2 - 1
            extra = self.neighbour_features(x, T, flows) if self.cfg.lq_neighbours else None
            lq_feats = self.lq_branch.features(x, extra)[::-1]
        last: list[torch.Tensor] = []

        def hook(i: int, h: torch.Tensor) -> torch.Tensor:
            if i == 0 and self.nvsm is not None:
                h = self.nvsm(h)
            h = self.stream_gain[i] * h
            if lq_feats is not None:
                h = h + self.lq_proj[i](lq_feats[i])
            if self.cfg.temporal:
                h = self.blend[i](h, self.temporal[i](h, T))
            h = self.refine[i](h)
            last[:] = [h]
            return h

        h = self.decoder(z, hook)  # (B*T,3,H,W) in [-1,1] units
        rgb = lq + h / 2 if self.cfg.residual else (h + 1) / 2
        out, m, nb_all, base, w = rgb, None, None, lq, None
        if self.cfg.fallback:
            m = torch.sigmoid(6 * torch.tanh(self.confidence(last[0]) / 6))  # (B*T,1,H,W)
            if self.deblock_head is not None:  # fall back to the degraded frame with its compression artefacts removed
                w = deblock_weight(lq, *self.cfg.deblock_noise)  # (B*T,1,1,1)
                base = self.deblocked(lq, T, flows, w)
            out = base + m * (rgb - base)
        if self.cfg.temporal:
            k = self.cfg.temporal_kernel // 2
            if flows is None:  # frames t-k..t+k as they are
                x = rearrange(out, "(b t) c h w -> b c t h w", t=T)
                step = rearrange(self.out_temporal(F.pad(x, (0, 0, 0, 0, k, k), mode="replicate")), "b c t h w -> (b t) c h w")
                nb = None
                nb_all = stack_neighbours(out, T, k, centre=False) if self.pixel_head is not None else None
            else:  # frames t-k..t+k warped onto frame t: the filter averages the same content
                R = output_radius(self.cfg)
                nb_all = warp_neighbours(out, T, within(flows, R))  # (B*T, 2R*3, H, W)
                frames = nb_all.chunk(2 * R, dim=1)  # t-R .. t-1, t+1 .. t+R
                nb = torch.cat(frames[R - k:R + k], dim=1)  # (B*T, 2k*3, H, W)
                x = torch.cat([nb[:, :3 * k], out, nb[:, 3 * k:]], dim=1)
                step = self.out_temporal(rearrange(x, "n (t c) h w -> n c t h w", c=3))[:, :, 0]
                if self.out_far is not None:  # + frames t-2, t+2
                    step = step + self.out_far(torch.stack([frames[0], frames[-1]], dim=2))[:, :, 0]
            if self.out_gate is not None:
                step = step * self.out_gate(out, last[0], T, nb if k == 1 else None)
            out = out + step
        if self.pixel_head is not None:
            x = [out, lq] + ([nb_all] if nb_all is not None else [])
            out = out + self.pixel_head(torch.cat(x, dim=1))
        if self.cfg.deblock_temporal > 0 and w is not None and flows is not None and bool((w > 0).any()):
            # frames the deblock head ran on: the output averaged with its aligned neighbours (compression errors
            # differ from frame to frame; the network's temporal layers learnt their averaging on noisy frames)
            o = out.float()
            h2 = deblock_scale(base - lq, self.cfg.deblock_temporal, self.cfg.deblock_temporal_max)
            o = o + w.float() * (temporal_mean(o, warp_neighbours(o, T, flows), h2) - o)
            out = o.to(out.dtype)
        return {"out": out, "rgb": rgb, "m": m, "base": base} if parts else out

    @torch.no_grad()
    def init_out_far(self, alpha: float) -> None:
        """Start the far output filter (t-2, t+2) as `alpha` x the mean of the near filter's t-1, t+1
        taps, moving 2 x that weight off its centre tap: on a still scene the output is unchanged, on
        a moving one the filter averages five aligned frames instead of three (from zero, training
        moves these taps slowly: measured ~0.008 after 800 steps at LR 1e-4, where ~0.065 pays)."""
        w = self.out_temporal.weight  # (3, 3, 3, 1, 1): out channel, in channel, frame t-1 / t / t+1
        side = alpha * (w[:, :, 0] + w[:, :, 2]) / 2
        self.out_far.weight.copy_(torch.stack([side, side], dim=2))
        self.out_far.bias.zero_()
        w[:, :, 1] -= 2 * side

    @property
    def align_radius(self) -> int:
        """Frames on each side whose flows onto frame t are estimated (0: no alignment)."""
        if not self.cfg.align:
            return 0
        stem = self.cfg.lq_neighbour_frames if self.lq_branch is not None and self.cfg.lq_neighbours else 0
        return max(stem, output_radius(self.cfg), self.cfg.deblock_frames if self.deblock_head is not None else 0)

    @property
    def context(self) -> int:
        """Frames on each side that can influence a frame's output (temporal receptive radius)."""
        stem = self.cfg.lq_neighbour_frames if self.lq_branch is not None and self.cfg.lq_neighbours else 0
        if self.deblock_head is not None:  # the fallback target reads frames t-r..t+r as well
            stem = max(stem, self.cfg.deblock_frames)
        if not self.cfg.temporal:
            return stem
        k = self.cfg.temporal_kernel // 2  # one temporal conv per block, plus the final one
        return stem + k * len(self.temporal) + output_radius(self.cfg)
