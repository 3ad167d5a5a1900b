"""Model chain: LP-VAE (lpvae.py) -> latent DiT (dit.py, attention.py) -> flow sampler (sampler.py)
-> temporal pixel-aware decoder (decoder.py). Shared building blocks live in layers.py."""
