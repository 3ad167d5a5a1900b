"""LP-VAE: ZipIR's Latent Pyramid VAE, 32x spatial compression into 64 channels.

    frame x (B,3,H,W)
      |-- avg-pool 32x ------------------------------------------> z_macro  (B, 3, H/32, W/32)
      |-- avg-pool 4x -> CoarseEncoder (f8 on the small frame) ---> z_coarse (B, 9, H/32, W/32)
      '-- FineEncoder (f32 on the full frame) --------------------> z_fine   (B,52, H/32, W/32)
    z = [z_macro; z_coarse; z_fine]                                          (B,64, H/32, W/32)

Training is progressive (ZipIR): stage 1 trains the coarse encoder with `CoarseDecoder`
(12ch -> RGB); stage 2 freezes it and trains the fine encoder with `Decoder` (64ch -> RGB).
Per-channel latent statistics (`latent_mean`, `latent_std`) normalise z for the diffusion model.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from vidrestore.config import COARSE_CH, FACTOR, FINE_CH, LATENT_CH, MACRO_CH
from vidrestore.models.layers import Down, LayerNorm2d, ResBlock, Up, by_frames


class DiagonalGaussian:
    """Posterior N(mean, exp(logvar)) over a latent map; `moments`: (B, 2C, h, w)."""

    def __init__(self, moments: torch.Tensor):
        self.mean, logvar = moments.chunk(2, dim=1)
        self.logvar = logvar.clamp(-30.0, 20.0)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        eps = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + torch.exp(0.5 * self.logvar) * eps

    def kl(self) -> torch.Tensor:
        """KL to N(0, I), mean over batch, summed over latent elements / numel for scale-free weighting."""
        return 0.5 * (self.mean.pow(2) + self.logvar.exp() - 1.0 - self.logvar).mean()


class PyramidEncoder(nn.Module):
    """Pixel-unshuffle x4 stem, then a residual stage per level with stride-2 downs between.

    x (B,3,H,W) -> moments (B, 2*latent_ch, H/(4*2^(L-1)), ...); also returns every level's features
    (the pixel-aware decoder's LQ branch is a copy of the fine encoder and needs them).
    """

    def __init__(self, channels: list[int], latent_ch: int, blocks: int = 1):
        super().__init__()
        self.stem = nn.Sequential(nn.PixelUnshuffle(4), nn.Conv2d(3 * 16, channels[0], 3, padding=1))
        self.levels = nn.ModuleList()
        self.downs = nn.ModuleList()
        for i, ch in enumerate(channels):
            self.levels.append(nn.Sequential(*[ResBlock(ch) for _ in range(blocks)]))
            if i + 1 < len(channels):
                self.downs.append(Down(ch, channels[i + 1]))
        self.out = nn.Sequential(LayerNorm2d(channels[-1]), nn.SiLU(), nn.Conv2d(channels[-1], 2 * latent_ch, 3, padding=1))

    def features(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> list[torch.Tensor]:
        """`extra` (B, c0, H/4, W/4) is added to the stem's output (the LQ branch's neighbour frames)."""
        h = by_frames(self.stem, x)  # (B, c0, H/4, W/4); (CPU inference: a few frames at a time, here and below)
        if extra is not None:
            h = h + extra
        feats = []
        for i, level in enumerate(self.levels):
            h = by_frames(level, h)
            feats.append(h)  # level i: (B, c_i, H/(4*2^i), W/(4*2^i))
            if i < len(self.downs):
                h = by_frames(self.downs[i], h)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x)[-1])


class CoarseEncoder(nn.Module):
    """Coarse level: x downsampled 4x, then f8 -> (B, 2*9, H/32, W/32)."""

    def __init__(self, channels: list[int], blocks: int = 1):
        super().__init__()
        self.stem = nn.Conv2d(3, channels[0], 3, stride=2, padding=1)  # H/4 -> H/8
        layers: list[nn.Module] = []
        for i, ch in enumerate(channels):
            layers += [ResBlock(ch) for _ in range(blocks)]
            if i + 1 < len(channels):
                layers.append(Down(ch, channels[i + 1]))
        self.body = nn.Sequential(*layers)
        self.out = nn.Sequential(LayerNorm2d(channels[-1]), nn.SiLU(), nn.Conv2d(channels[-1], 2 * COARSE_CH, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        small = F.avg_pool2d(x, 4)  # (B, 3, H/4, W/4)
        return self.out(self.body(self.stem(small)))


class Decoder(nn.Module):
    """z (B, C_in, H/32, W/32) -> RGB (B, 3, H, W).

    Levels at H/32, H/16, H/8, H/4 (one `Up` between consecutive levels), then pixel-shuffle x4.
    `hooks(level, h)` lets the pixel-aware decoder inject LQ residuals and temporal layers
    after each level; the plain VAE decoder passes none.
    """

    def __init__(self, channels: list[int], in_ch: int = LATENT_CH, blocks: int = 1):
        super().__init__()
        self.channels = list(channels)
        self.stem = nn.Conv2d(in_ch, channels[0], 3, padding=1)
        self.levels = nn.ModuleList([nn.Sequential(*[ResBlock(ch) for _ in range(blocks)]) for ch in channels])
        self.ups = nn.ModuleList([Up(channels[i], channels[i + 1]) for i in range(len(channels) - 1)])
        self.out = nn.Sequential(LayerNorm2d(channels[-1]), nn.SiLU(), nn.Conv2d(channels[-1], 3 * 16, 3, padding=1), nn.PixelShuffle(4))

    def forward(self, z: torch.Tensor, hook=None) -> torch.Tensor:
        h = self.stem(z)
        for i, level in enumerate(self.levels):  # (CPU inference: each stage a few frames at a time)
            if i > 0:
                h = by_frames(self.ups[i - 1], h)
            h = by_frames(level, h)
            if hook is not None:
                h = hook(i, h)  # (B, c_i, H/(32/2^i), ...)
        return by_frames(self.out, h)  # (B, 3, H, W), centred around the input's range (no sigmoid: L1 sees clean gradients)


class LPVAE(nn.Module):
    """The full latent pyramid autoencoder with its latent normalisation statistics."""

    def __init__(self, cfg):
        super().__init__()
        self.coarse = CoarseEncoder(list(cfg.coarse_channels), cfg.blocks)
        self.fine = PyramidEncoder(list(cfg.fine_channels), FINE_CH, cfg.blocks)
        self.decoder = Decoder(list(cfg.decoder_channels), LATENT_CH, cfg.blocks)
        self.coarse_decoder = Decoder(list(cfg.coarse_decoder_channels), MACRO_CH + COARSE_CH, cfg.blocks)
        self.register_buffer("latent_mean", torch.zeros(LATENT_CH))
        self.register_buffer("latent_std", torch.ones(LATENT_CH))

    @staticmethod
    def macro(x: torch.Tensor) -> torch.Tensor:
        """RGB average-pooled 32x, mapped to [-1, 1] like the other latents: (B,3,H/32,W/32)."""
        return F.avg_pool2d(x, FACTOR) * 2 - 1

    def encode_coarse(self, x: torch.Tensor) -> DiagonalGaussian:
        return DiagonalGaussian(self.coarse(x * 2 - 1))

    def encode_fine(self, x: torch.Tensor) -> DiagonalGaussian:
        return DiagonalGaussian(self.fine(x * 2 - 1))

    def encode(self, x: torch.Tensor, sample: bool = False, generator=None) -> torch.Tensor:
        """x (B,3,H,W) in [0,1], H and W multiples of 32 -> z (B,64,H/32,W/32)."""
        pick = (lambda q: q.sample(generator)) if sample else (lambda q: q.mean)
        return torch.cat([self.macro(x), pick(self.encode_coarse(x)), pick(self.encode_fine(x))], dim=1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B,64,h,w) -> RGB (B,3,32h,32w) in ~[0,1] (not clamped)."""
        return (self.decoder(z) + 1) / 2

    def decode_coarse(self, z12: torch.Tensor) -> torch.Tensor:
        """Stage-1 reconstruction from [z_macro; z_coarse] (B,12,h,w) -> (B,3,32h,32w)."""
        return (self.coarse_decoder(z12) + 1) / 2

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.latent_mean.view(1, -1, 1, 1)) / self.latent_std.view(1, -1, 1, 1)

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.latent_std.view(1, -1, 1, 1) + self.latent_mean.view(1, -1, 1, 1)
