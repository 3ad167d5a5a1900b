"""Tests for vidrestore.synth.motion: smooth synthetic camera motion and its exact flow."""

import kornia
import pytest
import torch
from kornia.geometry.conversions import convert_affinematrix_to_homography
from kornia.geometry.linalg import transform_points
from kornia.geometry.transform import invert_affine_transform

from vidrestore.synth.motion import affine_flow, moving_clip, moving_objects


def smooth_image(h=72, w=96, seed=0):
    """(3, H, W) smooth random texture in [0, 1] (blurred noise, so shifts change it gradually)."""
    noise = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))
    img = kornia.filters.gaussian_blur2d(noise, (13, 13), (3.0, 3.0), border_type="reflect")[0]
    return (img - img.min()) / (img.max() - img.min())


def gen(seed):
    return torch.Generator().manual_seed(seed)


def test_shape_dtype_range_and_affines():
    clip, affines = moving_clip(smooth_image(), 6, (32, 40), gen(0), return_affines=True)
    assert clip.shape == (6, 3, 32, 40) and clip.dtype == torch.float32
    assert 0 <= clip.min() and clip.max() <= 1
    assert affines.shape == (6, 2, 3)


def test_deterministic_given_generator_and_varies_with_seed():
    img = smooth_image()
    a = moving_clip(img, 5, (32, 40), gen(3))
    assert torch.equal(a, moving_clip(img, 5, (32, 40), gen(3)))
    assert not torch.equal(a, moving_clip(img, 5, (32, 40), gen(4)))


@pytest.mark.parametrize("seed", range(4))
def test_motion_is_smooth(seed):
    clip = moving_clip(smooth_image(), 8, (32, 40), gen(seed), max_shift=1.5, max_zoom=0.05, max_rotation_deg=3)
    near = (clip[1:] - clip[:-1]).abs().mean(dim=(1, 2, 3))  # (T-1,) consecutive frames
    far = (clip[-1] - clip[0]).abs().mean()
    assert 0 < near.max() < far


def test_no_motion_gives_identical_frames():
    clip = moving_clip(smooth_image(), 4, (32, 40), gen(0), max_shift=0, max_accel=0, max_zoom=0, max_rotation_deg=0)
    assert torch.equal(clip[0], clip[3])


@pytest.mark.parametrize("seed", range(6))
def test_window_never_leaves_the_image(seed):
    """A bright 1-px frame around a dark image must never be sampled."""
    img = smooth_image(48, 56) * 0.5
    img[:, 0], img[:, -1], img[:, :, 0], img[:, :, -1] = 1.0, 1.0, 1.0, 1.0
    clip, affines = moving_clip(img, 8, (32, 40), gen(seed), max_shift=3, max_zoom=0.2, max_rotation_deg=10,
                                return_affines=True)
    assert clip.max() <= 0.5 + 1e-5
    corners = torch.tensor([[0.0, 0.0], [39.0, 31.0]], dtype=torch.float64).expand(8, 2, 2)
    src = transform_points(convert_affinematrix_to_homography(invert_affine_transform(affines)), corners)
    assert src.min() >= 1 and src[..., 0].max() <= 54 and src[..., 1].max() <= 46


def test_image_smaller_than_window_fails():
    with pytest.raises(ValueError, match="too small"):
        moving_clip(torch.rand(3, 20, 50), 4, (32, 32), gen(0))


def test_affine_flow_is_exact():
    """Sampling frame t+1 at p + flow(p) reproduces frame t (up to interpolation)."""
    size = (32, 40)
    clip, affines = moving_clip(smooth_image(), 4, size, gen(1), max_shift=2.5, max_zoom=0.1, max_rotation_deg=4,
                                return_affines=True)
    flow = affine_flow(affines, size)  # (T-1, 2, h, w)
    assert flow.shape == (3, 2, 32, 40)
    grid = kornia.geometry.create_meshgrid(*size, normalized_coordinates=False)[0]  # (h, w, 2)

    def error_after_warp(sign):
        map_x, map_y = grid[..., 0] + sign * flow[:, 0], grid[..., 1] + sign * flow[:, 1]  # (T-1, h, w)
        warped = kornia.geometry.transform.remap(clip[1:], map_x, map_y, align_corners=True)
        inside = (map_x >= 0) & (map_x <= 39) & (map_y >= 0) & (map_y <= 31)  # (T-1, h, w)
        return (warped - clip[:-1]).abs().mean(1)[inside].mean()

    assert flow.abs().max() > 0.5
    assert error_after_warp(1) < 0.25 * error_after_warp(0)  # residual = bilinear resampling only
    assert error_after_warp(1) < 0.15 * error_after_warp(-1)  # the sign convention matters


def test_moving_objects_off_leaves_the_clip_and_the_generator_alone():
    clip = moving_clip(smooth_image(), 4, (32, 40), gen(0))
    g = gen(5)
    assert moving_objects(clip, smooth_image(seed=1), g, p=0.0) is clip
    assert torch.equal(torch.rand(3, generator=g), torch.rand(3, generator=gen(5)))  # nothing drawn: old data bit-exact


def test_moving_objects_move_on_their_own_over_a_still_background():
    still = smooth_image(seed=3)[:, :32, :40].expand(6, 3, 32, 40).contiguous()  # camera at rest: identical frames
    texture = torch.zeros(3, 72, 96)
    texture[0] = 1.0  # pure red objects, easy to find
    out = moving_objects(still, texture, gen(1), p=1.0, max_count=1, max_speed=6.0, size=(0.4, 0.5))
    assert out.shape == still.shape and 0 <= out.min() and out.max() <= 1
    assert torch.equal(moving_objects(still, texture, gen(1), p=1.0, max_count=1, max_speed=6.0, size=(0.4, 0.5)), out)
    red = (out[:, 0] - out[:, 1:].mean(1)) - (still[:, 0] - still[:, 1:].mean(1))  # (T, h, w) added redness
    mass = red.clamp(min=0).flatten(1).sum(1)
    assert (mass > 5).any()  # the object is in the clip
    ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(40.0), indexing="ij")
    w = red.clamp(min=0)
    centroid = torch.stack([(w * xs).flatten(1).sum(1), (w * ys).flatten(1).sum(1)], 1) / mass[:, None].clamp(min=1e-6)
    seen = mass > 0.5 * mass.max()  # frames where the object is mostly inside
    steps = (centroid[1:] - centroid[:-1]).norm(dim=1)[seen[1:] & seen[:-1]]
    assert steps.numel() and steps.max() <= 6.0 + 1.0  # at most max_speed px/frame (+ edge effects)
    # the background outside the object is untouched
    untouched = (w < 1e-3).all(0)
    assert untouched.float().mean() > 0.3 and torch.allclose(out[:, :, untouched], still[:, :, untouched], atol=3e-3)
