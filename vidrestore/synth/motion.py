"""Synthetic camera motion: turn a still image into a smoothly moving clip.

A virtual camera looks at the image through a ``size`` window whose centre pans
with a sub-pixel velocity plus a small acceleration, while it slowly zooms and
rotates. Frame ``t`` is rendered with ``kornia.geometry.transform.warp_affine``
using the affine ``M_t`` (source pixel -> frame pixel, ``align_corners=True``
convention: pixel centres at integer coordinates). The motion is shrunk until the
window stays inside the image in every frame, so no border ever shows.

Because the warps are known exactly, ``affine_flow`` gives the exact optical flow
between consecutive frames (useful for temporal-consistency metrics in tests).

A camera alone moves every pixel together. Real video also has objects that move on
their own over a still or differently moving background (a cyclist on a road), which
is what trips temporal layers that fuse neighbouring frames without alignment.
``moving_objects`` pastes soft-edged patches of the image onto the clip, each on its
own straight path at up to ``max_speed`` px/frame.
"""

from __future__ import annotations

import math
from functools import partial

import kornia
import torch
from kornia.geometry.conversions import convert_affinematrix_to_homography
from kornia.geometry.linalg import transform_points
from kornia.geometry.transform import get_rotation_matrix2d, invert_affine_transform, warp_affine

from vidrestore.synth.rng import coin, randint, uniform

__all__ = ["camera_affines", "moving_clip", "moving_objects", "affine_flow"]

_MARGIN = 1.0  # px kept between the window footprint and the image border


def _trajectory(frames: int, draws: torch.Tensor, k: float, max_shift: float, max_accel: float,
                max_zoom: float, max_rotation_deg: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Camera path relative to its start, with every motion amplitude scaled by ``k``.

    ``draws`` holds 6 numbers in [0, 1): speed, heading, accel x, accel y, zoom, rotation.
    Returns offsets (T, 2) in px, scales (T,), angles (T,) in degrees.
    """
    t = torch.arange(frames, dtype=torch.float64)  # (T,)
    tau = t / max(frames - 1, 1)  # 0 .. 1 over the clip
    speed, heading = k * max_shift * draws[0], 2 * math.pi * draws[1]
    velocity = speed * torch.stack([torch.cos(heading), torch.sin(heading)])  # (2,) px/frame
    accel = k * max_accel * (2 * draws[2:4] - 1)  # (2,) px/frame^2
    offsets = t[:, None] * velocity + 0.5 * t[:, None] ** 2 * accel  # (T, 2)
    zoom_end = 1 + k * max_zoom * (2 * draws[4] - 1)
    scales = zoom_end**tau  # (T,) geometric zoom, 1 at t=0
    angles = k * max_rotation_deg * (2 * draws[5] - 1) * tau  # (T,)
    return offsets, scales, angles


def _affines(centres: torch.Tensor, scales: torch.Tensor, angles: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Affines (T, 2, 3) mapping source px to frame px: ``centres`` (T, 2) land on the window centre."""
    h, w = size
    m = get_rotation_matrix2d(centres, angles, scales[:, None].repeat(1, 2))  # (T, 2, 3), rotation about centre
    window_centre = torch.tensor([(w - 1) / 2, (h - 1) / 2], dtype=centres.dtype)
    m[:, :, 2] += window_centre - centres  # then move the centre to the window centre
    return m


def _footprint(affines: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Source-pixel positions (T, 4, 2) of the four window corners in every frame."""
    h, w = size
    corners = torch.tensor([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], dtype=affines.dtype)  # (4, 2) x, y
    inverse = convert_affinematrix_to_homography(invert_affine_transform(affines))  # (T, 3, 3)
    return transform_points(inverse, corners.expand(len(affines), 4, 2))


def camera_affines(
    image_size: tuple[int, int],
    frames: int,
    size: tuple[int, int],
    generator: torch.Generator,
    *,
    max_shift: float = 2.0,
    max_accel: float = 0.2,
    max_zoom: float = 0.05,
    max_rotation_deg: float = 2.0,
) -> torch.Tensor:
    """Sample a smooth random camera path whose ``size`` window stays inside the image.

    Args:
        image_size: (H, W) of the source image.
        frames: clip length T.
        size: (h, w) of the rendered window.
        generator: source of randomness (exactly 8 numbers are drawn).
        max_shift: max pan speed, px/frame (sub-pixel speeds are typical).
        max_accel: max pan acceleration per axis, px/frame^2.
        max_zoom: max total zoom change over the clip (0.05 = +-5 %).
        max_rotation_deg: max total rotation over the clip, degrees.

    Returns:
        (T, 2, 3) float64 affines, source px -> frame px.

    Raises:
        ValueError: the image is smaller than the window (plus a 1 px margin).
    """
    (ih, iw), (h, w) = image_size, size
    draws = torch.rand(8, generator=generator, dtype=torch.float64)  # 6 for the path, 2 for the start
    room = torch.tensor([iw - 1 - 2 * _MARGIN, ih - 1 - 2 * _MARGIN], dtype=torch.float64)
    for k in [0.5**i for i in range(8)] + [0.0]:  # shrink the motion until it fits
        offsets, scales, angles = _trajectory(frames, draws, k, max_shift, max_accel, max_zoom, max_rotation_deg)
        corners = _footprint(_affines(offsets, scales, angles, size), size).reshape(-1, 2)  # path from origin
        lo, hi = corners.min(0).values, corners.max(0).values  # (2,) bounding box, x y
        if bool((hi - lo <= room).all()):
            break
    else:
        raise ValueError(f"image {iw}x{ih} is too small for a {w}x{h} window")
    start = _MARGIN - lo + draws[6:8] * (room - (hi - lo))  # (2,) bounding box placed inside the image
    return _affines(start + offsets, scales, angles, size)


def moving_clip(
    image: torch.Tensor,
    frames: int,
    size: tuple[int, int],
    generator: torch.Generator,
    *,
    max_shift: float = 2.0,
    max_accel: float = 0.2,
    max_zoom: float = 0.05,
    max_rotation_deg: float = 2.0,
    mode: str = "bilinear",
    return_affines: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Render a still image as a clip seen by a smoothly moving camera.

    Args:
        image: (3, H, W) float in [0, 1]; must be larger than ``size``.
        frames: clip length T.
        size: (h, w) of the output frames.
        generator: source of randomness; same generator state -> same clip.
        max_shift, max_accel, max_zoom, max_rotation_deg: see ``camera_affines``.
        mode: 'bilinear' or 'bicubic' resampling.
        return_affines: also return the (T, 2, 3) source->frame affines.

    Returns:
        clip (T, 3, h, w) float32 in [0, 1] [, affines (T, 2, 3) float64].
    """
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"expected an image (3, H, W), got {tuple(image.shape)}")
    affines = camera_affines(tuple(image.shape[-2:]), frames, size, generator, max_shift=max_shift,
                             max_accel=max_accel, max_zoom=max_zoom, max_rotation_deg=max_rotation_deg)
    src = image.to(torch.float32).expand(frames, *image.shape)  # (T, 3, H, W), no copy
    clip = warp_affine(src, affines.to(torch.float32), tuple(size), mode=mode, padding_mode="reflection",
                       align_corners=True).clamp(0, 1)  # (T, 3, h, w)
    return (clip, affines) if return_affines else clip


def _soft_mask(h: int, w: int, exponent: float, feather: float) -> torch.Tensor:
    """(1, h, w) alpha of a superellipse |x|^e + |y|^e <= 1 (e=2 ellipse, large e rounded box).

    The edge is a sigmoid about ``feather`` px wide, set 4 feathers inside the patch so that alpha
    reaches exactly 0 before the patch border (no hard cut).
    """
    inset = 4 * feather
    y = torch.linspace(-1, 1, h)[:, None].abs() * (h / 2) / max(h / 2 - inset, 1.0)
    x = torch.linspace(-1, 1, w)[None, :].abs() * (w / 2) / max(w / 2 - inset, 1.0)
    r = (x**exponent + y**exponent) ** (1 / exponent)  # (h, w), 1 on the boundary
    alpha = torch.sigmoid((1 - r) * (min(h, w) / 2 - inset) / feather)
    return ((alpha - 0.02) / 0.98).clamp(min=0)[None]


def moving_objects(
    clip: torch.Tensor,
    image: torch.Tensor,
    generator: torch.Generator,
    *,
    p: float = 0.5,
    max_count: int = 3,
    max_speed: float = 8.0,
    size: tuple[float, float] = (0.15, 0.5),
) -> torch.Tensor:
    """Paste independently moving objects onto a clip (local motion the camera path does not have).

    Each object is a random patch of ``image`` with a soft superellipse edge. It starts at a random
    place in the frame and moves on a straight line at a random speed up to ``max_speed`` px/frame in a
    random direction (it may leave the frame). Objects are drawn in order, later ones in front.

    Args:
        clip: (T, 3, h, w) float in [0, 1], the camera clip.
        image: (3, H, W) float in [0, 1], the texture source (H, W >= the largest patch).
        generator: source of randomness; nothing is drawn when ``p`` is 0 (old data stays bit-exact).
        p: probability that the clip gets objects at all.
        max_count: 1..max_count objects when it does.
        max_speed: px/frame.
        size: object side range, as a fraction of the clip's shorter side.

    Returns:
        (T, 3, h, w) float32 clip.
    """
    if p <= 0 or not coin(generator, p):
        return clip
    T, _, h, w = clip.shape
    H, W = image.shape[-2:]
    u = partial(uniform, generator)
    out = clip.to(torch.float32).clone()
    t = torch.arange(T, dtype=torch.float32)[:, None]  # (T, 1)
    for _ in range(randint(generator, 1, max(1, max_count))):
        oh = max(4, min(H, int(u(*size) * min(h, w))))
        ow = max(4, min(W, int(oh * u(0.5, 2.0))))
        y0, x0 = int(u(0, H - oh + 1)), int(u(0, W - ow + 1))
        patch = image[:, y0:y0 + oh, x0:x0 + ow].to(torch.float32)  # (3, oh, ow)
        alpha = _soft_mask(oh, ow, u(2.0, 6.0), u(0.7, 2.0))  # (1, oh, ow)
        rgba = torch.cat([patch * alpha, alpha])  # (4, oh, ow) premultiplied: resampling keeps edges clean
        speed, heading = u(0, max_speed), u(0, 2 * math.pi)
        start = torch.tensor([u(-ow / 2, w - ow / 2), u(-oh / 2, h - oh / 2)])  # top-left, x y
        pos = start + t * speed * torch.tensor([math.cos(heading), math.sin(heading)])  # (T, 2)
        affines = torch.eye(2, 3).repeat(T, 1, 1)
        affines[:, :, 2] = pos  # patch px -> frame px: a sub-pixel translation
        layer = warp_affine(rgba.expand(T, -1, -1, -1), affines, (h, w), mode="bilinear", padding_mode="zeros",
                            align_corners=True)  # (T, 4, h, w)
        alpha = layer[:, 3:].clamp(0, 1)
        out = out * (1 - alpha) + layer[:, :3]
    return out.clamp(0, 1)


def affine_flow(affines: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Exact forward optical flow between consecutive frames of a ``moving_clip``.

    Pixel ``p`` of frame t shows the same scene point as pixel ``p + flow[t, :, p]``
    of frame t+1.

    Args:
        affines: (T, 2, 3) source->frame affines from ``moving_clip(..., return_affines=True)``.
        size: (h, w) of the frames.

    Returns:
        (T-1, 2, h, w) float32 flow in px, channels (dx, dy).
    """
    h, w = size
    hom = convert_affinematrix_to_homography(affines.to(torch.float64))  # (T, 3, 3)
    step = hom[1:] @ torch.linalg.inv(hom[:-1])  # (T-1, 3, 3): frame t px -> frame t+1 px
    grid = kornia.geometry.create_meshgrid(h, w, normalized_coordinates=False, dtype=torch.float64)  # (1, h, w, 2)
    points = grid.reshape(1, h * w, 2).expand(len(step), -1, -1)  # (T-1, h*w, 2)
    flow = transform_points(step, points) - points  # (T-1, h*w, 2)
    return flow.reshape(-1, h, w, 2).permute(0, 3, 1, 2).to(torch.float32)
