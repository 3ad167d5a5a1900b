"""Convolutional building blocks shared by the LP-VAE, the decoder and the DiT's feed-forward.

Re-parameterisable convolutions train with several parallel linear branches and fuse into
one plain convolution at inference (`deploy()`), so the extra capacity is free at run time:

* `HRMConv`   LIPT's high-frequency re-parameterisation module: 3x3 + 1x1 + identity +
               fixed Sobel-x / Sobel-y / Laplacian branches -> one 3x3 conv.
* `RepDWConv` IPT-V2's Rep-LeFFN depthwise part: depthwise 3x3 + 1x1 + identity -> one depthwise 3x3.

No normalisation over space anywhere (only per-pixel channel LayerNorm), so a tile of a frame is
processed exactly like the same region of the whole frame.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 4
_LAPLACE = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]) / 4
HIGH_PASS = torch.stack([_SOBEL_X, _SOBEL_X.t(), _LAPLACE])  # (3, 3, 3): fixed high-frequency kernels


# CPU inference runs the per-frame parts of the network a few frames at a time, ~this many input elements per call
# (16 MB of float32): the activations of a call then stay in the CPU's caches (a 2-core AMD EPYC has 32 MB of L3)
CPU_CHUNK_ELEMENTS = 4_000_000


def by_frames(fn, x: torch.Tensor) -> torch.Tensor:
    """fn(x) for an fn that treats the rows of its batch independently, (B,...) -> (B,...). In CPU inference (no grad)
    the batch runs a few rows at a time (~CPU_CHUNK_ELEMENTS of x per call), bit for bit the same: the pixel head on a
    16-frame window at 256x192 takes half the time that way. Training and GPUs run the batch whole."""
    n = max(1, CPU_CHUNK_ELEMENTS // max(1, x[0].numel()))
    if x.shape[0] <= n or x.device.type != "cpu" or torch.is_grad_enabled():
        return fn(x)
    return torch.cat([fn(part) for part in x.split(n)])


def _pad_1x1(w: torch.Tensor) -> torch.Tensor:
    """(O, I, 1, 1) kernel -> the equivalent (O, I, 3, 3) kernel."""
    return F.pad(w, (1, 1, 1, 1))


def _identity_kernel(channels: int, groups: int, like: torch.Tensor) -> torch.Tensor:
    """3x3 kernel of the identity map for a conv with `groups` groups: (C, C/groups, 3, 3)."""
    k = torch.zeros(channels, channels // groups, 3, 3, dtype=like.dtype, device=like.device)
    for c in range(channels):
        k[c, c % (channels // groups), 1, 1] = 1.0
    return k


class RepConv(nn.Module):
    """Base class: subclasses define `kernel_and_bias()` in training form; `deploy()` fuses."""

    def __init__(self, in_ch: int, out_ch: int, groups: int = 1):
        super().__init__()
        self.in_ch, self.out_ch, self.groups = in_ch, out_ch, groups
        self.fused: nn.Conv2d | None = None

    def kernel_and_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def forward_branches(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused is not None:
            return self.fused(x)
        # every branch is linear, so their sum is one conv whose kernel is a differentiable function
        # of the branch parameters: training runs one conv (same outputs and gradients as running
        # the branches, several times faster); `forward_branches` is the literal form, kept as the reference
        w, b = self.kernel_and_bias()
        return F.conv2d(x, w, b, padding=1, groups=self.groups)

    @torch.no_grad()
    def deploy(self) -> None:
        if self.fused is not None:
            return
        w, b = self.kernel_and_bias()
        conv = nn.Conv2d(self.in_ch, self.out_ch, 3, padding=1, groups=self.groups).to(w)
        conv.weight.copy_(w)
        conv.bias.copy_(b)
        for name, _ in list(self.named_children()):
            delattr(self, name)
        self.fused = conv


class HRMConv(RepConv):
    """3x3 conv trained as 3x3 + 1x1 + identity + (1x1 -> fixed high-pass) branches (LIPT HRM).

    x: (B, in_ch, H, W) -> (B, out_ch, H, W)
    """

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__(in_ch, out_ch)
        self.conv3 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 1)
        self.hf = nn.Conv2d(in_ch, out_ch * len(HIGH_PASS), 1, bias=False)  # one 1x1 per high-pass kernel
        nn.init.normal_(self.hf.weight, std=0.02)
        self.register_buffer("high_pass", HIGH_PASS.clone(), persistent=False)
        self.identity = in_ch == out_ch

    def forward_branches(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv3(x) + self.conv1(x)
        if self.identity:
            y = y + x
        h = self.hf(x)  # (B, out*K, H, W), grouped by output channel
        k = self.high_pass.repeat(self.out_ch, 1, 1).unsqueeze(1)  # (out*K, 1, 3, 3)
        h = F.conv2d(h, k, padding=1, groups=h.shape[1])
        return y + h.unflatten(1, (self.out_ch, len(HIGH_PASS))).sum(2)

    def kernel_and_bias(self):
        w = self.conv3.weight + _pad_1x1(self.conv1.weight)
        if self.identity:
            w = w + _identity_kernel(self.out_ch, 1, w)
        hf = self.hf.weight.view(self.out_ch, len(HIGH_PASS), self.in_ch)  # (O, K, I)
        w = w + torch.einsum("oki,kxy->oixy", hf, self.high_pass.to(hf))
        return w, self.conv3.bias + self.conv1.bias


class RepDWConv(RepConv):
    """Depthwise 3x3 trained as depthwise 3x3 + depthwise 1x1 + identity (Rep-LeFFN). (B,C,H,W)->(B,C,H,W)"""

    def __init__(self, ch: int):
        super().__init__(ch, ch, groups=ch)
        self.dw3 = nn.Conv2d(ch, ch, 3, padding=1, groups=ch)
        self.dw1 = nn.Conv2d(ch, ch, 1, groups=ch)

    def forward_branches(self, x):
        return self.dw3(x) + self.dw1(x) + x

    def kernel_and_bias(self):
        w = self.dw3.weight + _pad_1x1(self.dw1.weight) + _identity_kernel(self.out_ch, self.groups, self.dw3.weight)
        return w, self.dw3.bias + self.dw1.bias


class LayerNorm2d(nn.Module):
    """LayerNorm over channels at each pixel (tile-safe). (B,C,H,W) -> (B,C,H,W)"""

    def __init__(self, ch: int, eps: float = 1e-6):
        super().__init__()
        self.norm = nn.LayerNorm(ch, eps=eps)

    def forward(self, x):
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ResBlock(nn.Module):
    """x + HRM(SiLU(HRM(LN(x)))): the residual block of the LP-VAE, decoder and LQ branch.
    (B,C,H,W) -> (B,C,H,W); `hidden` widens the inner activation (C -> hidden -> C)."""

    def __init__(self, ch: int, hidden: int | None = None):
        super().__init__()
        hidden = hidden or ch
        self.norm = LayerNorm2d(ch)
        self.conv1 = HRMConv(ch, hidden)
        self.conv2 = HRMConv(hidden, ch)
        with torch.no_grad():  # start close to identity: keeps deep stacks stable without BN
            for m in (self.conv2.conv3, self.conv2.conv1):
                m.weight.mul_(0.1)
            self.conv2.identity = False  # the outer skip already carries x

    def forward(self, x):
        return x + self.conv2(F.silu(self.conv1(self.norm(x))))


class Down(nn.Module):
    """Stride-2 3x3 conv: (B, cin, H, W) -> (B, cout, H/2, W/2)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


class Up(nn.Module):
    """Nearest x2 then 3x3 conv: (B, cin, H, W) -> (B, cout, 2H, 2W)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def deploy_all(module: nn.Module) -> nn.Module:
    """Fuse every re-parameterisable sub-module in place (inference only)."""
    for m in list(module.modules()):
        if isinstance(m, RepConv):
            m.deploy()
    return module
