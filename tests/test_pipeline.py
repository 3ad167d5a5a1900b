"""Pipeline: chunking with context, scene cuts, and whole-file runs with a fake restorer.

Whole-file runs check the transcode contract: same frames, timestamps, audio packets, colour
tags, bit depth, rotation, odd sizes; interrupted runs leave nothing behind; --resume gives
exactly the frames of an uninterrupted run.
"""

from fractions import Fraction

import numpy as np
import pytest
import torch

from tests.conftest import FakeRestorer, packets_of, read_video, write_video
from vidrestore.io.probe import probe
from vidrestore.io.reader import Frame, Position
from vidrestore.io.writer import EncoderSettings, plan_encoder
from vidrestore.pipeline import (RunOptions, SceneDetector, parts_dir_for, restore_file, restore_frames)


def frames_from(images):
    return [Frame(i, i * 10, 10, img) for i, img in enumerate(images)]


def run(src, dst, restorer=None, codec="libx264", **options):
    info = probe(src)
    settings_keys = {"pix_fmt", "crf", "preset"}
    settings = EncoderSettings(codec=codec, **{k: options.pop(k) for k in list(options) if k in settings_keys})
    if codec == "libx264":
        settings.options = {"preset": "ultrafast"}
    plan = plan_encoder(settings, info.video)
    opts = RunOptions(progress=False, **{"chunk_size": 4, **options})
    return restore_file(src, dst, restorer or FakeRestorer(), plan, opts, info=info, log=lambda m: None)


# -- chunking ---------------------------------------------------------------------------------
@pytest.mark.parametrize("chunk", [1, 3, 4, 7, 20])
@pytest.mark.parametrize("context", [0, 1, 2])
def test_chunking_matches_whole_clip(chunk, context):
    """With context frames on each side, chunked output equals restoring the shot in one call."""
    torch.manual_seed(0)
    images = [torch.rand(3, 4, 5) for _ in range(11)]

    class Local(FakeRestorer):  # output depends on exactly +-context neighbours
        def restore(self, x):
            self.calls.append(x)
            out = torch.zeros_like(x)
            for t in range(x.shape[0]):
                lo, hi = max(0, t - self.context), min(x.shape[0], t + self.context + 1)
                out[t] = x[lo:hi].mean(0)
            return out

    whole = Local(context).restore(torch.stack(images))
    r = Local(context)
    got = list(restore_frames(frames_from(images), r, chunk_size=chunk))
    assert [f.index for f, _ in got] == list(range(11))
    assert torch.allclose(torch.stack([img for _, img in got]), whole, atol=1e-6)
    # Every call restores at most `chunk` new frames plus `context` frames on each side.
    assert all(c.shape[0] <= chunk + 2 * context for c in r.calls)


def test_skip_before_restores_only_needed_chunks():
    images = [torch.full((3, 2, 2), i / 20) for i in range(12)]
    r = FakeRestorer(context=1)
    calls = []
    got = list(restore_frames(frames_from(images), r, chunk_size=4, skip_before=8, on_chunk=calls.append))
    assert [f.index for f, _ in got] == [8, 9, 10, 11]
    assert calls == [[7, 8, 9, 10, 11]]
    full = dict((f.index, img) for f, img in restore_frames(frames_from(images), FakeRestorer(1), chunk_size=4))
    assert all(torch.equal(img, full[f.index]) for f, img in got)


def test_scene_detector_flags_cuts_not_motion():
    det = SceneDetector(0.35)
    shot_a = [torch.from_numpy(np.random.default_rng(i).normal(0.3, 0.05, (3, 24, 32))).float().clamp(0, 1)
              for i in range(3)]
    shot_b = [torch.stack([torch.full((24, 32), 0.9), torch.full((24, 32), 0.2), torch.full((24, 32), 0.1)])]
    flags = [det.is_cut(x) for x in shot_a + shot_b]
    assert flags == [False, False, False, True]
    assert not SceneDetector(1.0).is_cut(shot_a[0]) and not any(
        SceneDetector(1.0).is_cut(x) for x in shot_a + shot_b)


def test_chunks_never_span_a_scene_cut():
    shot_of = [0] * 5 + [1] * 6 + [2] * 3
    images = [torch.full((3, 8, 8), 0.0) + torch.tensor([0.9, 0.1, 0.5][s])[None, None] * (c == s)
              for s in shot_of for c in [s]]
    images = []
    for s in shot_of:
        img = torch.zeros(3, 8, 8)
        img[s] = 0.9
        images.append(img)
    calls = []
    out = list(restore_frames(frames_from(images), FakeRestorer(context=2), chunk_size=4,
                              detector=SceneDetector(0.35), on_chunk=calls.append))
    assert len(out) == len(images)
    for call in calls:
        assert len({shot_of[i] for i in call}) == 1, f"chunk {call} crosses a cut"
    assert {i for c in calls for i in c} == set(range(len(images)))


def test_a_streaming_restorer_restores_each_shot_as_a_whole():
    """With Restorer.stream every frame equals restoring its whole shot in one call, windows never span a
    cut, and a resumed run (skip_before) runs no window made only of skipped frames."""
    from tests.test_restorer import make_restorer

    r = make_restorer(window=3, window_overlap=1)
    shot_of = [0] * 5 + [1] * 7
    images = [torch.from_numpy(np.random.default_rng(i).normal((0.3, 0.8)[s], 0.05, (3, 20, 24))).float().clamp(0, 1)
              for i, s in enumerate(shot_of)]
    calls = []
    out = list(restore_frames(frames_from(images), r, detector=SceneDetector(0.35), on_chunk=calls.append))
    assert [f.index for f, _ in out] == list(range(12))
    whole = torch.cat([r.restore(torch.stack(images[:5])), r.restore(torch.stack(images[5:]))])
    assert torch.equal(torch.stack([img for _, img in out]), whole)
    assert calls == [[0, 1, 2], [2, 3, 4], [5, 6, 7], [7, 8, 9], [9, 10, 11]]
    calls = []
    late = list(restore_frames(frames_from(images), r, detector=SceneDetector(0.35), skip_before=8, on_chunk=calls.append))
    assert [f.index for f, _ in late] == [8, 9, 10, 11]
    assert all(torch.equal(img, whole[f.index]) for f, img in late)
    assert calls == [[7, 8, 9], [9, 10, 11]]


# -- whole files --------------------------------------------------------------------------------
def test_frames_pts_fps_and_audio_preserved(tmp_path):
    src = write_video(tmp_path / "in.mp4", frames=14, audio="aac")
    s = run(src, tmp_path / "out.mp4")
    a, b = read_video(src), read_video(tmp_path / "out.mp4")
    assert s.frames == 14 == len(b["frames"])
    assert (b["width"], b["height"]) == (64, 48) and b["rate"] == a["rate"] == 25
    assert b["times"] == a["times"]
    assert b["streams"] == ["video", "audio"]
    assert packets_of(src, "audio") == packets_of(tmp_path / "out.mp4", "audio")
    # The picture went through the restorer (FakeRestorer darkens by 10 %).
    assert np.mean(b["frames"][5]) < np.mean(a["frames"][5]) - 2


def test_vfr_timestamps_kept(tmp_path):
    pts = [0, 40, 80, 200, 210, 220, 500, 540, 545, 700]  # milliseconds, very irregular
    src = write_video(tmp_path / "vfr.mp4", frames=len(pts), time_base=Fraction(1, 1000), pts=pts)
    run(src, tmp_path / "out.mp4")
    a, b = read_video(src), read_video(tmp_path / "out.mp4")
    assert a["times"] == [Fraction(p, 1000) for p in pts]
    assert b["times"] == a["times"]


def test_ten_bit_stays_ten_bit_with_colour_tags(tmp_path):
    colour = dict(color_range=1, colorspace=9, color_primaries=9, color_trc=16)  # BT.2020 PQ, limited
    src = write_video(tmp_path / "hdr.mkv", frames=6, pix_fmt="yuv420p10le", colour=colour)
    run(src, tmp_path / "out.mkv", restorer=FakeRestorer(gain=1.0))
    a, b = read_video(src), read_video(tmp_path / "out.mkv")
    assert b["pix_fmt"] == "yuv420p10le"
    assert b["colour"] == a["colour"] == (1, 9, 9, 16)
    assert b["native"][0].dtype == np.uint16
    # Restoration in float keeps the low bits: values are not all multiples of 4 (8-bit in disguise).
    assert np.any(b["native"][3] % 4 != 0)


def test_colour_tags_and_full_range(tmp_path):
    colour = dict(color_range=2, colorspace=1, color_primaries=1, color_trc=1)
    src = write_video(tmp_path / "full.mp4", frames=5, colour=colour)
    run(src, tmp_path / "out.mp4", restorer=FakeRestorer(context=0, gain=1.0))
    a, b = read_video(src), read_video(tmp_path / "out.mp4")
    assert b["colour"] == a["colour"] == (2, 1, 1, 1)
    # An identity restorer keeps the picture (so the matrix/range are applied consistently).
    assert np.abs(b["frames"][2].astype(int) - a["frames"][2].astype(int)).mean() < 2.0


def test_rotation_preserved(tmp_path):
    src = write_video(tmp_path / "rot.mp4", frames=4, rotation=90)
    run(src, tmp_path / "out.mp4")
    a, b = read_video(src), read_video(tmp_path / "out.mp4")
    assert a["display_matrix"] is not None and b["display_matrix"] == a["display_matrix"]
    assert probe(tmp_path / "out.mp4").video.rotation == 90


@pytest.mark.parametrize("pix_fmt,codec,name", [("yuv444p", "libx264", "odd.mp4"), ("yuv420p", "ffv1", "odd.mkv")])
def test_odd_size_passes_through(tmp_path, pix_fmt, codec, name):
    src = write_video(tmp_path / name, frames=4, width=37, height=21, pix_fmt=pix_fmt, codec=codec)
    run(src, tmp_path / ("out" + name[-4:]), codec=codec)
    b = read_video(tmp_path / ("out" + name[-4:]))
    assert (b["width"], b["height"], b["pix_fmt"], len(b["frames"])) == (37, 21, pix_fmt, 4)


def test_odd_size_padded_only_when_encoder_needs_it(tmp_path):
    src = write_video(tmp_path / "odd.mkv", frames=3, width=37, height=21, codec="ffv1")  # 4:2:0, odd
    s = run(src, tmp_path / "out.mp4")  # libx264 4:2:0 needs even sizes
    b = read_video(tmp_path / "out.mp4")
    assert (b["width"], b["height"]) == (38, 22) and s.frames == 3


def test_trim_start_end(tmp_path):
    src = write_video(tmp_path / "in.mp4", frames=20, audio="aac")
    s = run(src, tmp_path / "out.mp4", start=Position(5, frames=True), end=Position(0.6))  # frames 5..14
    b = read_video(tmp_path / "out.mp4")
    assert s.frames == 10 == len(b["frames"])
    assert b["times"][0] == 0 and b["times"][-1] == Fraction(9, 25)
    audio = packets_of(tmp_path / "out.mp4", "audio")
    assert audio and float(audio[-1][0]) < 0.45 and float(audio[0][0]) < 0.05


def test_audio_reencoded_when_container_refuses_it(tmp_path):
    src = write_video(tmp_path / "in.mkv", frames=6, audio="pcm_u8")
    notes = []
    info = probe(src)
    plan = plan_encoder(EncoderSettings(options={"preset": "ultrafast"}), info.video)
    restore_file(src, tmp_path / "out.mp4", FakeRestorer(), plan, RunOptions(progress=False), info=info,
                 log=notes.append)
    assert any("re-encoding" in n and "aac" in n for n in notes)
    out = probe(tmp_path / "out.mp4")
    assert [s.codec for s in out.streams] == ["h264", "aac"]


def test_truncated_input_restores_what_decodes_and_warns(tmp_path):
    src = write_video(tmp_path / "cut.mkv", frames=30, audio="aac")
    data = src.read_bytes()
    src.write_bytes(data[: len(data) * 6 // 10])
    notes = []
    info = probe(src)
    plan = plan_encoder(EncoderSettings(options={"preset": "ultrafast"}), info.video)
    s = restore_file(src, tmp_path / "out.mkv", FakeRestorer(), plan, RunOptions(progress=False), info=info,
                     log=notes.append)
    assert 0 < s.frames < 30 and len(read_video(tmp_path / "out.mkv")["frames"]) == s.frames
    assert any("truncated" in n for n in notes)


def test_interrupted_run_leaves_no_output(tmp_path):
    src = write_video(tmp_path / "in.mp4", frames=12, audio="aac")

    class Boom(FakeRestorer):
        def restore(self, x):
            if len(self.calls) == 2:
                raise KeyboardInterrupt
            return super().restore(x)

    with pytest.raises(KeyboardInterrupt):
        run(src, tmp_path / "out.mp4", restorer=Boom())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_resume_gives_identical_frames(tmp_path):
    src = write_video(tmp_path / "in.mkv", frames=13, audio="aac", shots=[0] * 6 + [1] * 7)
    first = FakeRestorer()
    run(src, tmp_path / "ref.mkv", restorer=first, codec="ffv1")

    class Crash(FakeRestorer):
        def restore(self, x):
            if len(self.calls) == 3:
                raise RuntimeError("simulated crash")
            return super().restore(x)

    out = tmp_path / "out.mkv"
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(src, out, restorer=Crash(), codec="ffv1", resume=True, segment_frames=3)
    assert not out.exists()
    parts = parts_dir_for(out)
    assert (parts / "manifest.json").exists() and len(list(parts.glob("part_*"))) >= 1
    assert not list(tmp_path.glob(".*partial*"))

    second = FakeRestorer()
    s = run(src, out, restorer=second, codec="ffv1", resume=True, segment_frames=3)
    assert s.resumed_frames >= 3 and s.frames == 13
    assert not parts.exists()
    ref, got = read_video(tmp_path / "ref.mkv"), read_video(out)
    assert got["times"] == ref["times"]
    assert len(got["native"]) == 13 and all(np.array_equal(x, y) for x, y in zip(got["native"], ref["native"]))
    assert packets_of(out, "audio") == packets_of(src, "audio")
    # The resumed run restored only the chunks that reach past the finished segments.
    chunks = [(0, 3), (4, 5), (6, 9), (10, 12)]  # chunk_size 4 within shots 0-5 and 6-12
    assert len(first.calls) == 4
    assert len(second.calls) == sum(1 for _, last in chunks if last >= s.resumed_frames)


def test_resume_refuses_changed_settings(tmp_path):
    from vidrestore.errors import OutputError

    src = write_video(tmp_path / "in.mkv", frames=6)

    class Crash(FakeRestorer):
        def restore(self, x):
            if self.calls:
                raise RuntimeError("crash")
            return super().restore(x)

    with pytest.raises(RuntimeError):
        run(src, tmp_path / "out.mkv", restorer=Crash(), codec="ffv1", resume=True, segment_frames=2)
    with pytest.raises(OutputError, match="different"):
        run(src, tmp_path / "out.mkv", codec="ffv1", resume=True, segment_frames=2, chunk_size=2)
