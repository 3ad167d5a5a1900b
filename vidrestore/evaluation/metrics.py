"""Quality and temporal-stability metrics for restored clips.

All clips are float tensors of shape ``(T, 3, H, W)`` with values in ``[0, 1]``
(RGB). Every function returns per-frame values (a 1-D tensor) so that the harness
can plot them and average them as it likes.

* :func:`psnr`, :func:`ssim` -- fidelity per frame (kornia), on RGB.
* :func:`optical_flow` -- classical dense flow (OpenCV Farnebäck when
  ``opencv-python-headless`` is installed, else a small pyramidal Lucas-Kanade
  in torch). It is meant to run on the *clean* frames, so that every method is
  judged against the same motion.
* :func:`warping_error` -- occlusion-masked warping error (Lai et al. 2018): how
  much frame ``t`` of the output differs from frame ``t-1`` of the output warped
  along the clean motion. Flicker and wobble raise it.
* :func:`frame_difference_error` -- flow-free: ``|Δout - Δgt|`` with
  ``Δx_t = x_t - x_{t-1}``; zero when the output changes exactly as the truth.
* :func:`tof` -- tOF (TecoGAN): mean end-point difference between the flow of
  the output and the flow of the truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import kornia
import torch
import torch.nn.functional as F

__all__ = [
    "psnr",
    "ssim",
    "optical_flow",
    "warp",
    "occlusion_mask",
    "ClipFlows",
    "clip_flows",
    "warping_error",
    "frame_difference_error",
    "tof",
]


def _check_pair(out: torch.Tensor, ref: torch.Tensor) -> None:
    if out.shape != ref.shape or out.ndim != 4:
        raise ValueError(f"expected two clips of one shape (T,C,H,W); got {tuple(out.shape)} and {tuple(ref.shape)}")


# --------------------------------------------------------------------------- fidelity


def psnr(out: torch.Tensor, ref: torch.Tensor, max_val: float = 1.0) -> torch.Tensor:
    """PSNR in dB per frame, shape ``(T,)``; ``inf`` where a frame is identical."""
    _check_pair(out, ref)
    out, ref = out.float(), ref.float()
    return torch.stack([kornia.metrics.psnr(o, r, max_val) for o, r in zip(out, ref)])


def ssim(out: torch.Tensor, ref: torch.Tensor, window_size: int = 11, max_val: float = 1.0) -> torch.Tensor:
    """Mean SSIM per frame over the RGB channels, shape ``(T,)`` (Gaussian window).

    Uses ``padding='valid'`` (the standard definition) when the frame is at least
    ``window_size`` pixels on each side, else ``'same'``.
    """
    _check_pair(out, ref)
    h, w = out.shape[-2:]
    padding = "valid" if min(h, w) >= window_size else "same"
    smap = kornia.metrics.ssim(out.float(), ref.float(), window_size, max_val=max_val, padding=padding)
    return smap.mean(dim=(1, 2, 3))


# --------------------------------------------------------------------------- optical flow


def _gray(frame: torch.Tensor) -> torch.Tensor:
    """(3,H,W) or (1,H,W) in [0,1] -> (H,W) luma."""
    if frame.shape[0] == 1:
        return frame[0]
    return kornia.color.rgb_to_grayscale(frame[None])[0, 0]


def _flow_opencv(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    import cv2
    import numpy as np

    a = (_gray(src).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    b = (_gray(dst).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    levels = max(1, min(5, int(np.log2(max(1, min(a.shape) // 16))) + 1))
    flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, levels, 15, 5, 7, 1.5, cv2.OPTFLOW_FARNEBACK_GAUSSIAN)
    return torch.from_numpy(flow).permute(2, 0, 1).float()


def _flow_lucas_kanade(src: torch.Tensor, dst: torch.Tensor, window: int = 9, iters: int = 4) -> torch.Tensor:
    """Pyramidal iterative Lucas-Kanade in torch (fallback when OpenCV is missing)."""
    a, b = _gray(src)[None, None].float(), _gray(dst)[None, None].float()
    levels = max(1, min(5, int(torch.log2(torch.tensor(min(a.shape[-2:]) / 16.0)).clamp(min=0).item()) + 1))
    pyr_a, pyr_b = [a], [b]
    for _ in range(levels - 1):
        pyr_a.append(F.avg_pool2d(pyr_a[-1], 2))
        pyr_b.append(F.avg_pool2d(pyr_b[-1], 2))
    flow = torch.zeros(1, 2, *pyr_a[-1].shape[-2:])
    box = torch.ones(1, 1, window, window) / window**2
    for la, lb in zip(reversed(pyr_a), reversed(pyr_b)):
        if flow.shape[-2:] != la.shape[-2:]:
            flow = 2.0 * F.interpolate(flow, size=la.shape[-2:], mode="bilinear", align_corners=False)
        grad = kornia.filters.spatial_gradient(la, mode="sobel", normalized=True)[:, 0]  # (1,2,H,W)
        ix, iy = grad[:, :1], grad[:, 1:]
        sxx = F.conv2d(ix * ix, box, padding=window // 2)
        syy = F.conv2d(iy * iy, box, padding=window // 2)
        sxy = F.conv2d(ix * iy, box, padding=window // 2)
        det = sxx * syy - sxy**2 + 1e-6
        for _ in range(iters):
            it = warp(lb, flow) - la
            sxt = F.conv2d(ix * it, box, padding=window // 2)
            syt = F.conv2d(iy * it, box, padding=window // 2)
            du = -(syy * sxt - sxy * syt) / det
            dv = -(sxx * syt - sxy * sxt) / det
            flow = flow + torch.cat([du, dv], 1).clamp(-2, 2)
    return flow[0]


def optical_flow(src: torch.Tensor, dst: torch.Tensor, backend: str = "auto") -> torch.Tensor:
    """Dense flow from frame ``src`` to frame ``dst`` (each (3,H,W) in [0,1]).

    Returns ``(2, H, W)`` with ``(dx, dy)`` in pixels such that
    ``dst[y + dy, x + dx] ≈ src[y, x]``. ``backend``: ``"opencv"`` (Farnebäck),
    ``"torch"`` (pyramidal Lucas-Kanade) or ``"auto"`` (OpenCV when installed).
    """
    if backend == "auto":
        try:
            import cv2  # noqa: F401

            backend = "opencv"
        except ImportError:
            backend = "torch"
    if backend == "opencv":
        return _flow_opencv(src, dst)
    if backend == "torch":
        return _flow_lucas_kanade(src, dst)
    raise ValueError(f"unknown flow backend {backend!r} (opencv, torch, auto)")


def _grid(flow: torch.Tensor) -> torch.Tensor:
    """(N,2,H,W) pixel flow -> (N,H,W,2) normalised sampling grid (align_corners=True)."""
    n, _, h, w = flow.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=flow.dtype), torch.arange(w, dtype=flow.dtype), indexing="ij")
    x = (xs + flow[:, 0]) / max(w - 1, 1) * 2 - 1
    y = (ys + flow[:, 1]) / max(h - 1, 1) * 2 - 1
    return torch.stack([x, y], dim=-1)


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward-warp ``image`` (N,C,H,W) by ``flow`` (N,2,H,W): ``out[p] = image[p + flow[p]]`` (bilinear)."""
    return F.grid_sample(image, _grid(flow), mode="bilinear", padding_mode="border", align_corners=True)


def occlusion_mask(fwd: torch.Tensor, bwd: torch.Tensor, alpha: float = 0.01, beta: float = 0.5) -> torch.Tensor:
    """Valid-pixel mask (N,1,H,W) from forward-backward consistency (Sundaram et al. 2010).

    ``fwd`` is the flow from frame t to frame s and ``bwd`` from s to t (both (N,2,H,W)).
    A pixel of t is valid when following ``fwd`` then ``bwd`` returns (nearly) to
    it and ``fwd`` does not leave the frame.
    """
    bwd_at = warp(bwd, fwd)
    diff = (fwd + bwd_at).pow(2).sum(1, keepdim=True)
    bound = alpha * (fwd.pow(2).sum(1, keepdim=True) + bwd_at.pow(2).sum(1, keepdim=True)) + beta
    grid = _grid(fwd)
    inside = (grid.abs() <= 1.0).all(dim=-1)[:, None]
    return (diff <= bound) & inside


@dataclass
class ClipFlows:
    """Flows of a clean clip between consecutive frames, each (T-1, 2, H, W).

    ``backward[t-1]`` goes from frame t to frame t-1, ``forward[t-1]`` from t-1
    to t; ``mask[t-1]`` (T-1,1,H,W) marks pixels of frame t that are visible in t-1.
    """

    backward: torch.Tensor
    forward: torch.Tensor
    mask: torch.Tensor


def clip_flows(clean: torch.Tensor, backend: str = "auto") -> ClipFlows:
    """Flows and occlusion masks of a clean clip (T,3,H,W), T >= 2."""
    if clean.shape[0] < 2:
        raise ValueError("temporal metrics need at least 2 frames")
    clean = clean.float()
    bwd = torch.stack([optical_flow(clean[t], clean[t - 1], backend) for t in range(1, clean.shape[0])])
    fwd = torch.stack([optical_flow(clean[t - 1], clean[t], backend) for t in range(1, clean.shape[0])])
    return ClipFlows(backward=bwd, forward=fwd, mask=occlusion_mask(bwd, fwd))


def warping_error(out: torch.Tensor, flows: ClipFlows) -> torch.Tensor:
    """Occlusion-masked warping error per frame pair, shape ``(T-1,)``.

    ``E_t = sum(M_t * |out_t - warp(out_{t-1}, F_{t->t-1})|^2) / (3 * sum(M_t))``:
    the mean squared RGB difference over the pixels visible in both frames,
    using the flows of the *clean* clip (see :func:`clip_flows`).
    """
    out = out.float()
    warped = warp(out[:-1], flows.backward)
    mask = flows.mask.float()
    err = ((out[1:] - warped) ** 2 * mask).sum(dim=(1, 2, 3))
    return err / (mask.sum(dim=(1, 2, 3)) * out.shape[1]).clamp(min=1.0)


def frame_difference_error(out: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Flow-free temporal error per frame pair: ``mean |(out_t - out_{t-1}) - (ref_t - ref_{t-1})|``, shape ``(T-1,)``."""
    _check_pair(out, ref)
    d_out = out[1:].float() - out[:-1].float()
    d_ref = ref[1:].float() - ref[:-1].float()
    return (d_out - d_ref).abs().mean(dim=(1, 2, 3))


def tof(out: torch.Tensor, flows: ClipFlows, backend: str = "auto") -> torch.Tensor:
    """tOF per frame pair, shape ``(T-1,)``: mean end-point distance (pixels)
    between the flow of the output (t -> t-1) and the clean flow ``flows.backward``."""
    out = out.float()
    f_out = torch.stack([optical_flow(out[t], out[t - 1], backend) for t in range(1, out.shape[0])])
    return (f_out - flows.backward).pow(2).sum(1).sqrt().mean(dim=(1, 2))
