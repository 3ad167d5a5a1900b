"""The whole model chain for one temporal window of (padded) frames.

    lq frames (T,3,H,W) --LP-VAE encode--> z_lq (T,64,H/32,W/32) --normalise-->
    --flow sampler (latent DiT, N Euler steps, shared noise)--> z (restored) --denormalise-->
    --temporal pixel-aware decoder (z, lq frames)--> restored frames (T,3,H,W)
"""

from __future__ import annotations

import torch
import torch.nn as nn

from vidrestore.models.decoder import TemporalPixelDecoder
from vidrestore.models.dit import LatentDiT
from vidrestore.models.lpvae import LPVAE
from vidrestore.models.sampler import sample_flow


class RestorationChain(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.vae = LPVAE(cfg.vae)
        self.dit = LatentDiT(cfg.dit)
        self.pixel_decoder = TemporalPixelDecoder(cfg.vae, cfg.decoder)
        self.pixel_decoder.init_from_vae(self.vae)

    @property
    def context(self) -> int:
        return self.pixel_decoder.context

    @torch.no_grad()
    def forward(self, lq: torch.Tensor, noise: torch.Tensor, steps: int) -> torch.Tensor:
        """lq (T,3,H,W) in [0,1], H,W multiples of 32; noise (1,64,H/32,W/32) -> (T,3,H,W)."""
        z_lq = self.vae.normalize(self.vae.encode(lq))
        z = self.vae.denormalize(sample_flow(self.dit, z_lq, noise, steps))
        return self.pixel_decoder(z, lq, T=lq.shape[0])
