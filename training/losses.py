"""Losses: L1, perceptual (LPIPS or a documented substitute), KL, hinge PatchGAN (2D for frames,
3D for clips) with VQGAN's adaptive weight and a delayed start, and a temporal consistency term."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from vidrestore.errors import ConfigError

# torchvision file names of the ImageNet backbones that lpips builds on
LPIPS_BACKBONES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}


class Perceptual(nn.Module):
    """kind: `lpips_alex` | `lpips_vgg` (the real LPIPS; needs torchvision's ImageNet backbone in the
    torch hub cache) | `ssim` (documented substitute: 1 - SSIM, for machines without the backbone)
    | `none`. Inputs (B,3,H,W) in [0,1]."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind
        if kind.startswith("lpips_"):
            net = kind.split("_", 1)[1]
            if net not in LPIPS_BACKBONES:
                raise ConfigError(f"unknown LPIPS backbone '{net}' (use lpips_alex or lpips_vgg)")
            ckpt = Path(torch.hub.get_dir()) / "checkpoints" / LPIPS_BACKBONES[net]
            if not ckpt.is_file():
                raise ConfigError(
                    f"LPIPS needs torchvision's ImageNet {net} weights at {ckpt}, which are missing and are not "
                    f"downloaded at run time. With internet access run: python -c \"import torchvision; "
                    f"torchvision.models.{'alexnet' if net == 'alex' else 'vgg16'}(weights='DEFAULT')\" "
                    f"(or copy the file there), or set loss.perceptual=ssim (substitute) or none.")
            import lpips

            self.net = lpips.LPIPS(net=net, verbose=False).eval().requires_grad_(False)
        elif kind not in ("ssim", "none"):
            raise ConfigError(f"unknown perceptual loss '{kind}' (lpips_alex, lpips_vgg, ssim, none)")

    def forward(self, out: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        if self.kind == "none":
            return out.new_zeros(())
        if self.kind == "ssim":
            import kornia

            return kornia.losses.ssim_loss(out.clamp(0, 1), gt, window_size=7) * 2  # = 1 - SSIM
        return self.net(out * 2 - 1, gt * 2 - 1).mean()


class PatchDiscriminator(nn.Module):
    """PatchGAN: (B,3,H,W) -> (B,1,H/8,W/8) real/fake logits. With `temporal=True` the convs are 3D
    over (T,H,W) and judge short clips, so flicker is penalised too: (B,3,T,H,W) -> (B,1,T,H/8,W/8)."""

    def __init__(self, ch: int = 64, layers: int = 3, temporal: bool = False):
        super().__init__()
        Conv = nn.Conv3d if temporal else nn.Conv2d

        def k(s):  # kernel/stride/padding per spatial stride; time keeps stride 1
            if temporal:
                return dict(kernel_size=(3, 4, 4), stride=(1, s, s), padding=(1, 1, 1))
            return dict(kernel_size=4, stride=s, padding=1)

        mods: list[nn.Module] = [Conv(3, ch, **k(2)), nn.LeakyReLU(0.2)]
        c = ch
        for i in range(1, layers):
            c_next = min(ch * 2 ** i, 256)
            mods += [Conv(c, c_next, **k(2)), nn.GroupNorm(8, c_next), nn.LeakyReLU(0.2)]
            c = c_next
        mods += [Conv(c, 1, kernel_size=(3, 3, 3) if temporal else 3, padding=1)]
        self.net = nn.Sequential(*mods)

    def forward(self, x):
        return self.net(x * 2 - 1)


def hinge_d_loss(real_logits, fake_logits):
    return 0.5 * (F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean())


def hinge_g_loss(fake_logits):
    return -fake_logits.mean()


def adaptive_weight(rec_loss, g_loss, last_layer: torch.Tensor, max_weight: float = 1e4) -> torch.Tensor:
    """VQGAN: balance GAN and reconstruction gradients at the generator's last layer."""
    rec_g = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)[0]
    gan_g = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
    return (rec_g.norm() / (gan_g.norm() + 1e-4)).clamp(0, max_weight).detach()


def temporal_difference_loss(out: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Frame-difference consistency for clips (B,T,3,H,W): the output changes over time like GT."""
    if out.shape[1] < 2:
        return out.new_zeros(())
    return F.l1_loss(out[:, 1:] - out[:, :-1], gt[:, 1:] - gt[:, :-1])


def clip_mse(x: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """MSE per clip, in fp32: (B,T,3,H,W) x2 -> (B,)."""
    return (x.float() - gt.float()).pow(2).flatten(1).mean(1)


def no_harm_loss(out: torch.Tensor, lq: torch.Tensor, gt: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Penalty for clips (B,T,3,H,W) that the restoration makes worse than its degraded input.

    Per clip: relu(log MSE(out, gt) - log MSE(lq, gt)), i.e. the dB lost against the input (in nepers,
    1 = 4.34 dB). Zero wherever the output beats the input (almost every noisy clip), so it only teaches
    the model to leave lightly degraded and clean clips alone; being a log ratio, a clip at 40 dB weighs as
    much as one at 25 dB, which a plain L1 over the batch does not do.
    """
    return F.relu(torch.log(clip_mse(out, gt) + eps) - torch.log(clip_mse(lq, gt) + eps).detach()).mean()


def log_mse_loss(out: torch.Tensor, gt: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """PSNR as a loss: the mean over clips (B,T,3,H,W) of log MSE(out, gt), i.e. -PSNR / 4.34 dB plus a constant.

    L1 favours sparse errors: on a compressed frame it can prefer the input's few large (blocking, ringing)
    errors to a restoration's many small ones even where the latter has the lower MSE, i.e. the PSNR the
    evaluation reports. Per clip and in logs, each clip weighs alike."""
    return torch.log(clip_mse(out, gt) + eps).mean()
