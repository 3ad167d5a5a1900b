"""Latent DiT: restores the normalised LP-VAE latent by flow matching.

    z_t (B,64,h,w) ++ z_lq (B,64,h,w) --1x1--> tokens (B,h,w,D)
    t --sinusoidal--> MLP --> c (B,D)
    [FCSA block, GGSA block] x depth/2        each block: adaLN-Zero(c) around attention and Rep-LeFFN
    adaLN --> Linear(D, 64) (zero-init)  -->  velocity v (B,64,h,w)

Tokens are latent pixels (patch 1 at f32). No absolute position embedding: the depthwise convs of
Rep-LeFFN give position, so any frame size and any tile work the same way.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from vidrestore.config import LATENT_CH
from vidrestore.models.attention import FCSA, GGSA, RepLeFFN


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """x (B,H,W,D), shift/scale (B,D)."""
    return x * (1 + scale[:, None, None]) + shift[:, None, None]


class TimestepEmbedder(nn.Module):
    """t in [0,1] (B,) -> (B, D) via sinusoidal features and an MLP."""

    def __init__(self, dim: int, freq_dim: int = 128):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.freq_dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
        args = (t.float() * 1000.0)[:, None] * freqs[None]
        return self.mlp(torch.cat([torch.cos(args), torch.sin(args)], dim=-1).to(self.mlp[0].weight.dtype))


class DiTBlock(nn.Module):
    """x + g1 * Attn(mod(LN(x))) ; x + g2 * RepLeFFN(mod(LN(x))) with (shift, scale, gate) from c."""

    def __init__(self, dim: int, mixer: nn.Module, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mixer = mixer
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ffn = RepLeFFN(dim, mlp_ratio)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        nn.init.zeros_(self.ada[1].weight)
        nn.init.zeros_(self.ada[1].bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor, cache: dict) -> torch.Tensor:
        sh1, sc1, g1, sh2, sc2, g2 = self.ada(c).chunk(6, dim=-1)
        x = x + g1[:, None, None] * self.mixer(modulate(self.norm1(x), sh1, sc1), cache)
        return x + g2[:, None, None] * self.ffn(modulate(self.norm2(x), sh2, sc2))


class FinalLayer(nn.Module):
    def __init__(self, dim: int, out_ch: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))
        self.linear = nn.Linear(dim, out_ch)
        for m in (self.ada[1], self.linear):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x, c):
        shift, scale = self.ada(c).chunk(2, dim=-1)
        return self.linear(modulate(self.norm(x), shift, scale))


class LatentDiT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D = cfg.width
        self.multiple = math.lcm(cfg.window, cfg.grid)
        self.embed = nn.Conv2d(2 * LATENT_CH, D, 1)
        self.t_embed = TimestepEmbedder(D)
        blocks = []
        for i in range(cfg.depth):
            if i % 2 == 0:
                mixer = FCSA(D, cfg.heads, cfg.window, shift=(i // 2) % 2 == 1)
            else:
                mixer = GGSA(D, cfg.heads, cfg.grid, cfg.hmha, list(cfg.head_split), cfg.qkcu)
            blocks.append(DiTBlock(D, mixer, cfg.mlp_ratio))
        self.blocks = nn.ModuleList(blocks)
        self.final = FinalLayer(D, LATENT_CH)

    def forward(self, z_t: torch.Tensor, t: torch.Tensor, z_lq: torch.Tensor) -> torch.Tensor:
        """z_t, z_lq: (B,64,h,w) normalised latents; t: (B,) in [0,1] -> velocity (B,64,h,w)."""
        h, w = z_t.shape[-2:]
        ph, pw = -h % self.multiple, -w % self.multiple
        x = torch.cat([z_t, z_lq], dim=1)
        if ph or pw:  # replicate-pad so windows and the grid tile the latent exactly
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        x = self.embed(x).permute(0, 2, 3, 1)  # (B, H, W, D)
        c = self.t_embed(t)
        cache: dict = {}  # QKCU cache: lives for this forward only, so nothing leaks between calls
        for block in self.blocks:
            x = block(x, c, cache)
        v = self.final(x, c).permute(0, 3, 1, 2)  # (B, 64, H, W)
        return v[..., :h, :w]
