"""Temporal pixel-aware decoder (ZipIR's pixel-aware decoder + temporal layers for video).

    z (B*T,64,h,w) --> Decoder levels  H/32 --up--> H/16 --up--> H/8 --up--> H/4 --> RGB (pixel-shuffle x4)
                          after level i:   h += LQProj_i(LQ feature at the same scale)   (zero-init 1x1)
                                           h  = AlphaBlend(h, TemporalResBlock(h))       (Conv3d (k,1,1), zero-init)
                          at H/32 only:    h += NVSM-SA(h)                                (LIPT, zero-init proj)
    degraded frames (B*T,3,H,W) --> LQ branch = copy of the fine encoder (initialised from it)
    output: rgb = decoded frame, or lq + decoded correction (`residual`, zero at init)
            out = lq + m * (rgb - lq),  m = sigmoid(confidence head, soft-clamped to [-6, 6]): falls
            back to the degraded input where the restoration cannot be trusted (the clamp keeps the
            gate from saturating shut, which would stop the restoration path from learning);
            then a final zero-init temporal conv.

At initialisation every new layer is an exact no-op, so the decoder starts as the VAE decoder
(apart from the fallback map, which starts near 1).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from vidrestore.config import FINE_CH
from vidrestore.models.layers import LayerNorm2d
from vidrestore.models.lpvae import Decoder, PyramidEncoder


def zero_(m: nn.Module) -> nn.Module:
    for p in m.parameters():
        nn.init.zeros_(p)
    return m


class TemporalResBlock(nn.Module):
    """Residual block over time only: (B*T,C,h,w) -> same. Conv3d kernels (k,1,1), replicate-padded
    in time so the first/last frame and single-frame clips work."""

    def __init__(self, ch: int, k: int = 3):
        super().__init__()
        self.k = k
        self.conv1 = nn.Conv3d(ch, ch, (k, 1, 1))
        self.conv2 = zero_(nn.Conv3d(ch, ch, (k, 1, 1)))

    def _tconv(self, conv, x):
        p = self.k // 2
        return conv(F.pad(x, (0, 0, 0, 0, p, p), mode="replicate"))

    def forward(self, x: torch.Tensor, T: int) -> torch.Tensor:
        h = rearrange(x, "(b t) c h w -> b c t h w", t=T)
        h = h + self._tconv(self.conv2, F.silu(self._tconv(self.conv1, h)))
        return rearrange(h, "b c t h w -> (b t) c h w")


class AlphaBlender(nn.Module):
    """Learned mix of the spatial and temporal paths: x_s + (1 - a) * (x_t - x_s), a = sigmoid(w)."""

    def __init__(self, init: float = 0.0):
        super().__init__()
        self.mix = nn.Parameter(torch.tensor(init))

    def forward(self, x_spatial, x_temporal):
        return torch.lerp(x_spatial, x_temporal, 1 - torch.sigmoid(self.mix))


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
        if cfg.temporal:
            self.temporal = nn.ModuleList([TemporalResBlock(c, cfg.temporal_kernel) for c in chans])
            self.blend = nn.ModuleList([AlphaBlender() for _ in chans])
            self.out_temporal = zero_(nn.Conv3d(3, 3, (cfg.temporal_kernel, 1, 1)))
        self.nvsm = NVSMAttention(chans[0], cfg.nvsm_window) if cfg.nvsm_attention else None
        if cfg.fallback:
            self.confidence = nn.Sequential(nn.Conv2d(chans[-1], 16, 3, padding=1), nn.PixelShuffle(4))
            nn.init.zeros_(self.confidence[0].weight)
            nn.init.constant_(self.confidence[0].bias, 6.0)  # sigmoid(6) ~ 0.998: trust the latent at first

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
        """Residual mode starts as the identity: zero correction, gate open."""
        zero_(self.decoder.out[2])
        if self.cfg.fallback:
            nn.init.zeros_(self.confidence[0].weight)
            nn.init.constant_(self.confidence[0].bias, 2.0)

    def forward(self, z: torch.Tensor, lq: torch.Tensor, T: int, parts: bool = False):
        """z (B*T,64,h,w), lq (B*T,3,32h,32w) in [0,1], frames grouped per clip -> (B*T,3,32h,32w).
        parts=True returns dict(out, rgb (before the fallback gate), m) for training losses."""
        lq_feats = self.lq_branch.features(lq * 2 - 1)[::-1] if self.lq_branch is not None else None
        last: list[torch.Tensor] = []

        def hook(i: int, h: torch.Tensor) -> torch.Tensor:
            if i == 0 and self.nvsm is not None:
                h = self.nvsm(h)
            if lq_feats is not None:
                h = h + self.lq_proj[i](lq_feats[i])
            if self.cfg.temporal:
                h = self.blend[i](h, self.temporal[i](h, T))
            last[:] = [h]
            return h

        h = self.decoder(z, hook)  # (B*T,3,H,W) in [-1,1] units
        rgb = lq + h / 2 if self.cfg.residual else (h + 1) / 2
        out, m = rgb, None
        if self.cfg.fallback:
            m = torch.sigmoid(6 * torch.tanh(self.confidence(last[0]) / 6))  # (B*T,1,H,W)
            out = lq + m * (rgb - lq)
        if self.cfg.temporal:
            k = self.cfg.temporal_kernel // 2
            x = rearrange(out, "(b t) c h w -> b c t h w", t=T)
            x = x + self.out_temporal(F.pad(x, (0, 0, 0, 0, k, k), mode="replicate"))
            out = rearrange(x, "b c t h w -> (b t) c h w")
        return {"out": out, "rgb": rgb, "m": m} if parts else out

    @property
    def context(self) -> int:
        """Frames on each side that can influence a frame's output (temporal receptive radius)."""
        if not self.cfg.temporal:
            return 0
        k = self.cfg.temporal_kernel // 2
        return k * (2 * len(self.temporal) + 1)
