"""Media I/O: probing, colour conversion, decoding spans, encoder planning."""

from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from tests.conftest import write_video
from vidrestore.errors import InputError, OutputError
from vidrestore.io.colour import Colour, Conversion, check_pixel_format, frame_to_tensor, tensor_to_frame
from vidrestore.io.probe import probe
from vidrestore.io.reader import FrameReader, Position
from vidrestore.io.writer import EncoderSettings, plan_encoder


def test_position_parse():
    assert Position.parse("12.5") == Position(12.5)
    assert Position.parse("1:02.5") == Position(62.5)
    assert Position.parse("01:00:02") == Position(3602)
    assert Position.parse("300f") == Position(300, frames=True)
    for bad in ["", "soon", "-1", "1:2:3:4", "f"]:
        with pytest.raises(InputError):
            Position.parse(bad)


def test_probe_reports_what_matters(tmp_path):
    src = write_video(tmp_path / "in.mp4", frames=9, width=48, height=32, pix_fmt="yuv420p10le", audio="aac",
                      rotation=-90, colour=dict(color_range=1, colorspace=1, color_primaries=1, color_trc=1))
    info = probe(src)
    v = info.video
    assert (v.codec, v.width, v.height, v.pix_fmt, v.bit_depth) == ("h264", 48, 32, "yuv420p10le", 10)
    assert v.average_rate == 25 and v.frames == 9 and v.rotation == -90
    assert v.colour == Colour(1, 1, 1, 1)
    assert [s.type for s in info.streams] == ["video", "audio"]


def test_probe_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        probe(tmp_path / "nope.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        probe(tmp_path / "empty.mp4")
    with pytest.raises(InputError, match="folder"):
        probe(tmp_path)
    with pytest.raises(InputError, match="alpha"):
        check_pixel_format("yuva420p")
    with pytest.raises(InputError, match="palette"):
        check_pixel_format("pal8")


@pytest.mark.parametrize("pix_fmt,codes", [("yuv420p", 3.0 / 255), ("yuv444p10le", 3.0 / 1023), ("gbrp", 1.0 / 255)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_colour_round_trip(pix_fmt, codes, seed):
    """RGB float -> pixel format -> RGB float is within quantisation (+ dither) error.

    A wrong matrix or range would be off by tens of code values.
    """
    torch.manual_seed(seed)
    rgb = torch.rand(3, 1, 1) * 0.6 + 0.2 + torch.zeros(3, 16, 16)  # flat colour: no chroma blur
    for colour in [Colour(1, 1, 1, 1), Colour(6, 2, 6, 6), Colour()]:
        conv = Conversion.for_stream(colour, pix_fmt, 16, 16)
        frame = tensor_to_frame(rgb, pix_fmt, conv, colour)
        assert frame.format.name == pix_fmt and frame.color_range == colour.range
        back = frame_to_tensor(frame, conv)
        assert (back - rgb).abs().max() <= codes


def test_untagged_matrix_follows_players():
    assert Conversion.for_stream(Colour(), "yuv420p", 640, 480).matrix == "itu601"
    assert Conversion.for_stream(Colour(), "yuv420p", 1280, 720).matrix == "itu709"
    assert Conversion.for_stream(Colour(), "yuvj420p", 64, 48).range == 2
    assert Conversion.for_stream(Colour(), "yuv420p", 64, 48).range == 1


def test_reader_spans_and_pts(tmp_path):
    src = write_video(tmp_path / "in.mp4", frames=20)
    conv = Conversion.for_stream(Colour(), "yuv420p", 64, 48)
    with FrameReader(src, conv) as r:
        frames = list(r)
    assert [f.index for f in frames] == list(range(20)) and frames[0].image.shape == (3, 48, 64)
    tb = frames[0].pts and None
    with FrameReader(src, conv, start=Position(0.4), end=Position(12, frames=True)) as r:
        span = list(r)
    assert len(span) == 2 and span[0].index == 0  # frames 10 and 11
    assert span[0].pts == frames[10].pts
    with FrameReader(src, conv, start=Position(3, frames=True), end=Position(0.2)) as r:
        assert [f.pts for f in r] == [f.pts for f in frames[3:5]]
    del tb


def test_reader_close_mid_stream_does_not_hang(tmp_path):
    src = write_video(tmp_path / "in.mp4", frames=30)
    r = FrameReader(src, Conversion.for_stream(Colour(), "yuv420p", 64, 48), queue_size=2)
    it = iter(r)
    next(it)
    r.close()
    assert not r._thread.is_alive()


def test_plan_keeps_bit_depth_and_validates(tmp_path):
    src = write_video(tmp_path / "in.mkv", frames=2, pix_fmt="yuv420p10le")
    v = probe(src).video
    assert plan_encoder(EncoderSettings("libx264"), v).pix_fmt == "yuv420p10le"
    assert plan_encoder(EncoderSettings("libx265"), v).pix_fmt == "yuv420p10le"
    assert plan_encoder(EncoderSettings("ffv1"), v).options["level"] == "3"
    plan = plan_encoder(EncoderSettings("libx264", crf=12, preset="fast", options={"tune": "film"}), v)
    assert plan.options == {"crf": "12", "preset": "fast", "tune": "film"}
    with pytest.raises(OutputError, match="unknown video encoder"):
        plan_encoder(EncoderSettings("bogus"), v)
    with pytest.raises(OutputError, match="cannot encode"):
        plan_encoder(EncoderSettings("libx264", pix_fmt="rgb48le"), v)
    with pytest.raises(OutputError, match="refused"):
        plan_encoder(EncoderSettings("libx264", options={"preset": "no-such-preset"}), v)


def test_plan_rgb_source_gets_yuv444_and_bt709_tags(tmp_path):
    src = write_video(tmp_path / "rgb.mkv", frames=2, codec="ffv1", pix_fmt="bgr0")
    plan = plan_encoder(EncoderSettings("libx264"), probe(src).video)
    assert plan.pix_fmt == "yuv444p" and plan.colour.matrix == 1 and plan.colour.range == 1
    assert plan_encoder(EncoderSettings("ffv1"), probe(src).video).pix_fmt == "bgr0"


def test_write_video_helper_makes_real_vfr(tmp_path):
    src = write_video(tmp_path / "v.mp4", frames=3, time_base=Fraction(1, 1000), pts=[0, 10, 300])
    with av.open(str(src)) as c:
        assert [f.pts * f.time_base for f in c.decode(video=0)] == [0, Fraction(1, 100), Fraction(3, 10)]
    assert np.asarray(frame_to_tensor(av.VideoFrame(8, 8, "yuv420p"), Conversion("itu601", 1))).shape == (3, 8, 8)
