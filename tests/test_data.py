"""Tests for training/data.py: clip datasets, determinism, config, input errors."""

from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from training.data import (
    ImageFolderClips,
    MixedClips,
    VideoFolderClips,
    build_dataset,
    item_generator,
    load_data_config,
)
from vidrestore.errors import ConfigError, InputError
from vidrestore.synth import RandomDegradation


def texture(h, w, seed):
    """(H, W, 3) uint8 smooth colour texture with some fine detail."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([np.sin(x / (4 + c) + rng.uniform(0, 6)) * np.cos(y / (5 + c)) for c in range(3)], -1)
    img = 0.5 + 0.3 * base + 0.1 * rng.random((h, w, 3))
    return (img.clip(0, 1) * 255).astype(np.uint8)


def write_video(path, n_frames=8, h=48, w=64):
    """Frame k has mean brightness rising with k, so frame order can be checked."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.height, stream.width, stream.pix_fmt = h, w, "yuv420p"
        stream.time_base = Fraction(1, 25)
        stream.options = {"crf": "10", "preset": "ultrafast", "threads": "1"}
        tex = texture(h, w, 0).astype(np.float32) * 0.3
        for k in range(n_frames):
            frame = av.VideoFrame.from_ndarray((tex + 20 * k).clip(0, 255).astype(np.uint8), format="rgb24")
            frame.pts = k
            out.mux(stream.encode(frame))
        out.mux(stream.encode())


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    for i, ext in enumerate(["png", "jpg", "bmp"]):
        Image.fromarray(texture(48, 64, i)).save(root / f"img{i}.{ext}")
    (root / "notes.txt").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    write_video(root / "a.mp4")
    write_video(root / "b.mkv", n_frames=3)  # shorter than a clip
    return root


def check_item(item, frames, size):
    for key in ("gt", "lq"):
        x = item[key]
        assert x.shape == (frames, 3, *size) and x.dtype == torch.float32
        assert 0 <= x.min() and x.max() <= 1


def test_item_generator_depends_on_seed_index_stream_only():
    draw = lambda *a: torch.rand(4, generator=item_generator(*a))  # noqa: E731
    assert torch.equal(draw(0, 5), draw(0, 5))
    assert not torch.equal(draw(0, 5), draw(0, 6))
    assert not torch.equal(draw(0, 5), draw(1, 5))
    assert not torch.equal(draw(0, 5, 0), draw(0, 5, 1))


def test_image_clips_shapes_motion_and_determinism(image_dir):
    ds = ImageFolderClips(image_dir, frames=4, size=(32, 32), seed=3)
    assert len(ds) == 3  # the .txt file is ignored
    item = ds[1]
    check_item(item, 4, (32, 32))
    assert torch.equal(item["gt"], item["lq"])  # no degradation given
    assert not torch.equal(item["gt"][0], item["gt"][-1])  # the camera moves
    again = ImageFolderClips(image_dir, frames=4, size=(32, 32), seed=3)[1]  # fresh instance, same (seed, index)
    assert torch.equal(item["gt"], again["gt"]) and item["meta"] == again["meta"]
    assert not torch.equal(ds[4]["gt"], item["gt"])  # index 4 -> same file, new crop/motion
    assert ds[4]["meta"]["path"] == item["meta"]["path"]


def test_image_clips_objects_are_a_motion_option(image_dir):
    still = {"max_shift": 0.0, "max_accel": 0.0, "max_zoom": 0.0, "max_rotation_deg": 0.0}
    plain = ImageFolderClips(image_dir, frames=4, size=(32, 32), seed=3, motion=still)[1]["gt"]
    assert torch.equal(plain[0], plain[-1])  # camera at rest, no objects
    off = ImageFolderClips(image_dir, frames=4, size=(32, 32), seed=3, motion={**still, "objects": {"p": 0.0}})[1]["gt"]
    assert torch.equal(off, plain)  # objects off: bit-exact with the data before the option existed
    moving = ImageFolderClips(image_dir, frames=4, size=(32, 32), seed=3,
                              motion={**still, "objects": {"p": 1.0, "max_speed": 4.0, "size": [0.3, 0.5]}})[1]["gt"]
    check_item({"gt": moving, "lq": moving, "meta": {}}, 4, (32, 32))
    assert not torch.equal(moving[0], moving[-1])  # only the objects move


def test_image_clips_upscale_small_images(image_dir):
    ds = ImageFolderClips(image_dir, frames=2, size=(64, 96))  # larger than the 48x64 images
    check_item(ds[0], 2, (64, 96))


def test_image_clips_zoom_gives_smoother_content(image_dir):
    def roughness(ds):  # mean |horizontal difference| of the clean frames over a few items
        return sum(float(ds[i]["gt"].diff(dim=-1).abs().mean()) for i in range(6)) / 6

    still = {"max_shift": 0.0, "max_accel": 0.0, "max_zoom": 0.0, "max_rotation_deg": 0.0}
    plain = ImageFolderClips(image_dir, frames=2, size=(32, 32), seed=1, motion=still)
    zoomed = ImageFolderClips(image_dir, frames=2, size=(32, 32), seed=1, motion=still, zoom=[3.0, 4.0])
    check_item(zoomed[0], 2, (32, 32))
    assert roughness(zoomed) < 0.6 * roughness(plain)  # 3-4x enlarged: far less detail per pixel
    again = ImageFolderClips(image_dir, frames=2, size=(32, 32), seed=1, motion=still, zoom=[3.0, 4.0])
    assert torch.equal(zoomed[2]["gt"], again[2]["gt"])  # still a pure function of (seed, index)
    for bad in ([0.5, 2.0], [3.0, 2.0], [2.0]):
        with pytest.raises(ConfigError, match="zoom"):
            ImageFolderClips(image_dir, frames=2, size=(32, 32), zoom=bad)


def test_build_dataset_passes_a_sources_zoom(image_dir):
    cfg = load_data_config(overrides=[f"root={image_dir}", "size=[32,32]", "frames=2",
                                      "train=[{path: ., kind: images, weight: 1.0, zoom: [2.0, 3.0]}]"])
    ds = build_dataset(cfg)
    assert ds.sources[0].zoom == (2.0, 3.0)
    check_item(ds[0], 2, (32, 32))


def test_image_clips_dihedral_orientations(tmp_path):
    ramp = np.repeat(np.linspace(0, 255, 48)[:, None, None], 3, axis=2).repeat(64, axis=1)  # brighter downwards
    Image.fromarray(ramp.astype(np.uint8)).save(tmp_path / "ramp.png")
    still = {"max_shift": 0.0, "max_accel": 0.0, "max_zoom": 0.0, "max_rotation_deg": 0.0}
    ds = ImageFolderClips(tmp_path, frames=2, size=(32, 32), seed=0, motion=still, orientations="dihedral")
    seen = set()
    for i in range(48):
        item = ds[i]
        k = int(item["meta"]["detail"].removeprefix("orientation="))
        seen.add(k)
        gt = item["gt"]
        down, right = float(gt.diff(dim=-2).mean()), float(gt.diff(dim=-1).mean())
        # the ramp runs down the rows; an up-down flip (k & 2) reverses it, a transpose (k & 4) lays it along the columns
        along, across = (right, down) if k & 4 else (down, right)
        assert abs(across) < 1e-6 and (along < 0) == bool(k & 2), (k, down, right)
    assert seen == set(range(8))
    hflip = ImageFolderClips(tmp_path, frames=2, size=(32, 32), seed=0, motion=still)  # the default: mirrors only
    assert {hflip[i]["meta"]["detail"] for i in range(16)} == {"orientation=0", "orientation=1"}
    wide = ImageFolderClips(tmp_path, frames=2, size=(32, 40), seed=0, motion=still, orientations="dihedral")
    for i in range(16):  # a non-square crop is never transposed
        check_item(wide[i], 2, (32, 40))
        assert int(wide[i]["meta"]["detail"].removeprefix("orientation=")) < 4
    with pytest.raises(ConfigError, match="orientations"):
        ImageFolderClips(tmp_path, frames=2, size=(32, 32), orientations="rot90")


def test_video_clips_read_frames_in_order(video_dir):
    ds = VideoFolderClips(video_dir, frames=4, size=(32, 48), stride_range=(1, 2), seed=0)
    assert len(ds) == 2
    for index in (0, 2, 4):  # a.mp4
        item = ds[index]
        check_item(item, 4, (32, 48))
        means = item["gt"].mean(dim=(1, 2, 3))
        assert (means[1:] > means[:-1] + 0.05).all()  # brightness rises with the frame index
    assert torch.equal(ds[2]["gt"], VideoFolderClips(video_dir, 4, (32, 48), (1, 2), seed=0)[2]["gt"])


def test_video_shorter_than_clip_ping_pongs(video_dir):
    ds = VideoFolderClips(video_dir, frames=5, size=(32, 32))
    item = ds[1]  # b.mkv, 3 frames
    assert item["meta"]["path"].endswith("b.mkv")
    means = item["gt"].mean(dim=(1, 2, 3))
    assert means[0] < means[1] < means[2] and means[3] < means[2]  # 0 1 2 1 0
    assert torch.allclose(means[4], means[0], atol=0.01)


def test_mixed_clips_degrades_and_is_deterministic(image_dir, video_dir):
    deg = RandomDegradation({"p_clean": 0.0, "noise": {"p": 1.0}, "compression": {"p_codec": 0.0, "p_jpeg": 0.0}})
    make = lambda: MixedClips(  # noqa: E731
        [ImageFolderClips(image_dir, 3, (32, 32)), VideoFolderClips(video_dir, 3, (32, 32))],
        [1.0, 1.0], degradation=deg, seed=5, length=50)
    ds = make()
    assert len(ds) == 50
    items = [ds[i] for i in range(6)]
    for item in items:
        check_item(item, 3, (32, 32))
        assert (item["lq"] - item["gt"]).abs().mean() > 0.01
        assert item["meta"]["degradation"]["noise"] != "none"
    assert {i["meta"]["kind"] for i in items} == {"images", "video"}
    again = make()[4]
    assert torch.equal(items[4]["lq"], again["lq"]) and torch.equal(items[4]["gt"], again["gt"])


def test_mixed_clips_rejects_bad_weights(image_dir):
    with pytest.raises(ConfigError):
        MixedClips([ImageFolderClips(image_dir, 3, (32, 32))], [0.0])


def test_build_dataset_from_config_and_collate(image_dir, video_dir, tmp_path):
    cfg = load_data_config(overrides=[f"root={tmp_path}", "frames=3", "size=[24,32]", "samples_per_epoch=7",
                                      "degradation.compression.presets=[ultrafast]"])
    cfg.train = [{"path": str(image_dir), "kind": "images", "weight": 1.0},
                 {"path": video_dir.name, "kind": "video", "weight": 0.5}]  # relative to root
    (tmp_path / video_dir.name).symlink_to(video_dir)
    ds = build_dataset(cfg)
    assert len(ds) == 7
    batch = next(iter(DataLoader(ds, batch_size=3)))
    assert batch["gt"].shape == batch["lq"].shape == (3, 3, 3, 24, 32)
    assert len(batch["meta"]["path"]) == 3 and batch["meta"]["degradation"]["noise_sigma"].shape == (3,)
    assert torch.equal(batch["lq"][2], build_dataset(cfg)[2]["lq"])


def test_default_config_is_complete():
    cfg = load_data_config()
    assert cfg.frames == 5 and list(cfg.size) == [128, 128]
    assert cfg.train[0].kind == "images" and cfg.train[0].path.endswith("cbsd432")
    RandomDegradation(cfg.degradation)  # every key is known to the sampler
    with pytest.raises(ConfigError, match="kind"):
        cfg.train = [{"path": ".", "kind": "audio"}]
        build_dataset(cfg)


@pytest.mark.parametrize("cls", [ImageFolderClips, VideoFolderClips])
def test_missing_empty_and_unreadable_folders_raise_input_error(cls, tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(InputError, match=str(missing)):
        cls(missing, 3, (32, 32))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match=str(empty)):
        cls(empty, 3, (32, 32))
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.txt").write_text("x")
    (junk / "broken.png").write_bytes(b"not a png")
    (junk / "broken.mp4").write_bytes(b"not an mp4")
    with pytest.raises(InputError, match=str(junk)):
        cls(junk, 3, (32, 32))
