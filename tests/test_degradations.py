"""Tests for vidrestore.synth.degradations: single degradations, the random chain, presets."""

import av
import pytest
import torch

from vidrestore.errors import ConfigError
from vidrestore.synth import degradations as D


def textured_clip(t=4, h=32, w=40, seed=0):
    """(T, 3, H, W) smooth colour texture in (0, 1) drifting by one pixel per frame."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(h, dtype=torch.float32)[:, None]
    frames = []
    for k in range(t):
        x = torch.arange(w, dtype=torch.float32)[None, :] + k
        phase = torch.rand(3, 1, 1, generator=g) * 6.28
        img = 0.5 + 0.3 * torch.sin(x / 5 + phase) * torch.cos(y / 7 + phase)  # (3, H, W)
        frames.append(img)
    return torch.stack(frames).clamp(0, 1)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def mae(a, b):
    return (a - b).abs().mean().item()


SINGLE = {
    "gaussian_noise": lambda c: D.gaussian_noise(c, 25, gen()),
    "gray_noise": lambda c: D.gaussian_noise(c, 25, gen(), gray=True),
    "poisson_gaussian": lambda c: D.poisson_gaussian_noise(c, 30.0, 5.0, gen()),
    "gaussian_blur": lambda c: D.gaussian_blur(c, 1.5),
    "motion_blur": lambda c: D.motion_blur(c, 9, 30.0),
    "down_up": lambda c: D.down_up(c, 0.5, "area", "bicubic"),
    "jpeg": lambda c: D.jpeg(c, 20),
    "h264": lambda c: D.codec_roundtrip(c, "libx264", 35, "ultrafast"),
    "h265": lambda c: D.codec_roundtrip(c, "libx265", 35, "ultrafast"),
}


@pytest.mark.parametrize("name", list(SINGLE))
def test_single_degradation_changes_clip_keeps_shape_and_range(name):
    clip = textured_clip(h=29, w=37)  # odd sizes on purpose
    out = SINGLE[name](clip)
    assert out.shape == clip.shape and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 1
    assert mae(out, clip) > 2e-3


def test_gaussian_noise_level_and_independence_per_frame():
    flat = torch.full((3, 3, 64, 64), 0.5)
    out = D.gaussian_noise(flat, 25, gen())
    noise = out - flat
    assert abs(noise.std().item() * 255 - 25) < 1.5
    assert not torch.allclose(noise[0], noise[1])  # fresh noise for every frame
    gray = D.gaussian_noise(flat, 25, gen(), gray=True) - flat
    assert torch.equal(gray[:, 0], gray[:, 1]) and not torch.equal(noise[:, 0], noise[:, 1])


def test_gaussian_noise_is_clamped_unless_asked_not_to():
    dark = torch.zeros(1, 3, 16, 16)
    assert D.gaussian_noise(dark, 50, gen()).min() == 0
    assert D.gaussian_noise(dark, 50, gen(), clamp=False).min() < 0


def test_poisson_noise_grows_with_signal():
    clip = torch.cat([torch.full((2, 3, 32, 16), 0.1), torch.full((2, 3, 32, 16), 0.8)], dim=-1)
    noise = D.poisson_gaussian_noise(clip, 20.0, 0.0, gen()) - clip
    assert noise[..., 16:].std() > 2 * noise[..., :16].std()  # sqrt(0.8/0.1) ~ 2.8


@pytest.mark.parametrize("name", ["gaussian_blur", "motion_blur", "down_up", "jpeg"])
def test_clip_level_degradations_use_one_setting_for_all_frames(name):
    static = textured_clip(t=1).expand(3, -1, -1, -1).contiguous()
    out = SINGLE[name](static)
    assert torch.equal(out[0], out[1]) and torch.equal(out[0], out[2])


def test_codec_quality_follows_crf():
    clip = textured_clip()
    err18 = mae(D.codec_roundtrip(clip, "libx264", 18, "veryfast"), clip)
    err45 = mae(D.codec_roundtrip(clip, "libx264", 45, "veryfast"), clip)
    assert 0 < err18 < err45
    assert err18 < 0.02  # near transparent at CRF 18: colour handling round trip is right


@pytest.mark.parametrize("codec", ["libx264", "libx265"])
@pytest.mark.parametrize("container", ["matroska", "mp4"])
def test_codec_keeps_frame_count_and_odd_size(codec, container):
    clip = textured_clip(t=7, h=29, w=37)
    out = D.codec_roundtrip(clip, codec, 40, "ultrafast", container=container)
    assert out.shape == (7, 3, 29, 37)
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("codec,alias", [("libx264", "h264"), ("libx265", "hevc")])
def test_codec_is_deterministic(codec, alias):
    clip = textured_clip()  # 32x40: libx265 was run-to-run different on small frames before padding
    runs = [D.codec_roundtrip(clip, name, 37, preset) for name in (codec, alias) for preset in ("fast", "fast", "slow")]
    assert torch.equal(runs[0], runs[1]) and torch.equal(runs[0], runs[3]) and torch.equal(runs[2], runs[5])


def test_codec_errors(monkeypatch):
    clip = textured_clip(t=2)
    with pytest.raises(ConfigError, match="unsupported codec"):
        D.codec_roundtrip(clip, "vp9")
    monkeypatch.setattr(av, "codecs_available", {"libx264"})
    with pytest.raises(ConfigError, match="'libx265' is not available"):
        D.codec_roundtrip(clip, "libx265")


# ----------------------------------------------------------------------------- random chain

ALWAYS = {
    "p_clean": 0.0,
    "blur": {"p": 1.0, "p_motion": 0.0},
    "resize": {"p": 1.0},
    "noise": {"p": 1.0, "p_poisson": 0.0},
    "compression": {"p_codec": 1.0, "presets": ["ultrafast"]},
}


def test_random_degradation_full_chain_applies_every_stage():
    clip = textured_clip()
    out, info = D.RandomDegradation(ALWAYS)(clip, gen(3))
    assert out.shape == clip.shape and out.dtype == torch.float32 and 0 <= out.min() and out.max() <= 1
    assert info["blur"] == "gaussian" and info["scale"] < 1 and info["noise"] == "gaussian"
    assert info["compression"] in ("libx264", "libx265") and 18 <= info["crf"] <= 45
    assert mae(out, clip) > 0.01
    assert " > " in D.describe(info)


def test_random_degradation_is_deterministic_and_varies_with_seed():
    deg, clip = D.RandomDegradation({"compression": {"presets": ["ultrafast"]}}), textured_clip()
    a, info_a = deg(clip, gen(7))
    b, info_b = deg(clip, gen(7))
    assert torch.equal(a, b) and info_a == info_b
    infos = [deg(clip, gen(s))[1] for s in range(8)]
    assert len({D.describe(i) for i in infos}) > 4
    assert all(set(i) == set(D._empty_info()) for i in infos)  # fixed keys: collate-friendly


def test_random_degradation_clean_and_config_errors():
    clip = textured_clip()
    out, info = D.RandomDegradation({"p_clean": 1.0})(clip, gen())
    assert info["clean"] and torch.equal(out, clip) and D.describe(info) == "clean"
    with pytest.raises(ConfigError):
        D.RandomDegradation({"noise": {"sigmaa": [0, 10]}})


# ----------------------------------------------------------------------------- presets


def test_presets_listed():
    assert set(D.PRESETS) == {"awgn15", "awgn25", "awgn50", "h264_crf37", "h265_crf37", "realworld"}
    assert all(p.description for p in D.PRESETS.values())


@pytest.mark.parametrize("name", ["awgn15", "awgn25", "awgn50", "h264_crf37", "h265_crf37", "realworld"])
def test_preset_is_deterministic_per_seed(name):
    clip = textured_clip(h=29, w=37)
    a, b = D.degrade(clip, name, seed=1), D.degrade(clip, name, seed=1)
    assert torch.equal(a, b)
    assert a.shape == clip.shape and a.dtype == torch.float32 and 0 <= a.min() and a.max() <= 1
    assert mae(a, clip) > 2e-3


@pytest.mark.parametrize("name", ["awgn25", "realworld"])
def test_noisy_presets_differ_across_seeds(name):
    clip = textured_clip()
    assert not torch.equal(D.degrade(clip, name, seed=1), D.degrade(clip, name, seed=2))


def test_awgn_presets_are_ordered_and_unknown_name_fails():
    clip = textured_clip()
    errs = [mae(D.degrade(clip, f"awgn{s}", 0), clip) for s in (15, 25, 50)]
    assert errs[0] < errs[1] < errs[2]
    with pytest.raises(ConfigError, match="awgn15"):
        D.degrade(clip, "awgn99", 0)
