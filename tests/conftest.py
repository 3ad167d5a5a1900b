"""Shared test fixtures: tiny synthetic videos written with PyAV, fake restorers, small models.

Media is generated inside the tests: videos are 64x48-ish and a handful of frames, so each test
takes well under a few seconds on a laptop CPU. The one binary fixture is tests/data/ (a 5-frame
natural clip for the shipped-weights test; source and licence in tests/data/README.md).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = REPO / "configs" / "model" / "tiny.yaml"


def test_image(index: int, width: int, height: int, shot: int = 0, seed: int = 0) -> np.ndarray:
    """A smooth moving gradient (so codecs compress it well) with a per-shot colour cast, uint8 RGB."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = index * 0.3
    base = 0.5 + 0.35 * np.sin(x / max(width, 1) * 6.28 + phase)[..., None] * np.cos(y / max(height, 1) * 3.14)[..., None]
    cast = np.array([[0.9, 0.4, 0.2], [0.2, 0.5, 0.9], [0.3, 0.9, 0.3]][shot % 3], dtype=np.float32)
    img = base * cast * 255
    rng = np.random.default_rng(seed * 1000 + index)
    img = img + rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_video(path, frames: int = 12, width: int = 64, height: int = 48, *, codec: str = "libx264",
                pix_fmt: str = "yuv420p", rate: int = 25, time_base: Fraction | None = None,
                pts: list[int] | None = None, audio: str | None = None, audio_seconds: float | None = None,
                colour: dict | None = None, rotation: float | None = None, shots: list[int] | None = None,
                options: dict | None = None, subtitle: bool = False) -> Path:
    """Write a small test video with PyAV and return its path.

    ``pts`` (in ``time_base`` units) makes it variable frame rate; ``audio`` adds an audio
    stream with that codec ("aac", "pcm_s16le", ...); ``colour`` sets tags (keys color_range,
    colorspace, color_primaries, color_trc); ``shots[i]`` picks frame i's colour cast (scene cuts).
    """
    path = Path(path)
    with av.open(str(path), "w") as out:
        v = out.add_stream(codec, rate=rate, options=options or {})
        v.width, v.height, v.pix_fmt = width, height, pix_fmt
        if codec == "libx264":
            v.codec_context.options = {"preset": "ultrafast", **(options or {})}
        tb = time_base or Fraction(1, rate)
        v.codec_context.time_base = tb
        v.time_base = tb
        colour = colour or {}
        for key, value in colour.items():
            setattr(v.codec_context, key, value)
        if rotation is not None:
            v.set_display_rotation(rotation)
        a = None
        if audio:
            a = out.add_stream(audio, rate=48000)
            a.layout = "stereo"
        s = None
        if subtitle:
            s = out.add_stream("mov_text" if path.suffix in (".mp4", ".mov") else "subrip")
        fmt = av.VideoFormat(pix_fmt)
        for i in range(frames):
            img = test_image(i, width, height, shot=(shots[i] if shots else 0))
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame = frame.reformat(format=pix_fmt, dst_colorspace=colour.get("colorspace", 5) if not fmt.is_rgb else None,
                                   dst_color_range=colour.get("color_range", 1) if not fmt.is_rgb else None)
            for key, value in colour.items():
                setattr(frame, key, value)
            frame.pts = pts[i] if pts is not None else round(i / (rate * tb))
            frame.time_base = tb
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
        if a is not None:
            seconds = audio_seconds if audio_seconds is not None else frames / rate
            samples, t = int(seconds * 48000), 0
            size = a.codec_context.frame_size or 1024
            while t < samples:
                n = min(size, samples - t)
                tt = (np.arange(n) + t) / 48000
                tone = (0.2 * np.sin(2 * np.pi * 440 * tt)).astype(np.float32)
                af = av.AudioFrame.from_ndarray(np.stack([tone, tone]).reshape(2, n), format="fltp", layout="stereo")
                af.sample_rate, af.pts = 48000, t
                out.mux(a.encode(af))
                t += n
            out.mux(a.encode(None))
    return path


def read_video(path) -> dict:
    """Decode a file: frames (uint8 RGB arrays, or uint16 for >8-bit), pts, stream facts."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        ctx = v.codec_context
        info = {
            "width": ctx.width, "height": ctx.height, "pix_fmt": ctx.pix_fmt, "time_base": v.time_base,
            "rate": v.average_rate, "codec": ctx.codec.name,
            "colour": (ctx.color_range, ctx.colorspace, ctx.color_primaries, ctx.color_trc),
            "display_matrix": (ctx.coded_side_data or {}).get("display_matrix"),
            "streams": [s.type for s in c.streams],
        }
        frames, pts, native = [], [], []
        for f in c.decode(v):
            pts.append(f.pts)
            frames.append(f.to_ndarray(format="rgb24"))
            try:
                native.append(f.to_ndarray())
            except AssertionError:  # PyAV cannot export odd-sized 4:2:0 directly
                native.append(f.to_ndarray(format="rgb48le"))
        info.update(frames=frames, pts=pts, native=native, times=[p * v.time_base for p in pts])
    return info


def packets_of(path, kind: str = "audio") -> list[tuple]:
    """(pts seconds, dts seconds, bytes) of every packet of the first stream of a kind."""
    with av.open(str(path)) as c:
        s = [st for st in c.streams if st.type == kind][0]
        return [(p.pts * p.time_base if p.pts is not None else None, bytes(p)) for p in c.demux(s) if p.size]


class FakeRestorer:
    """Duck-typed Restorer for pipeline tests: brightens a little; records every call's frames."""

    def __init__(self, context: int = 1, gain: float = 0.9):
        self.context = context
        self.gain = gain
        self.calls: list[torch.Tensor] = []

    def restore(self, frames: torch.Tensor) -> torch.Tensor:
        self.calls.append(frames.clone())
        # A temporal operation, so chunking mistakes show up: average with neighbours.
        padded = torch.cat([frames[:1], frames, frames[-1:]])
        mixed = (padded[:-2] + padded[1:-1] + padded[2:]) / 3 if self.context else frames
        return (mixed * self.gain).clamp(0, 1)


@pytest.fixture
def tmp_video(tmp_path):
    """Factory: ``tmp_video(name="in.mp4", **write_video kwargs)`` -> Path."""

    def make(name: str = "in.mp4", **kwargs) -> Path:
        return write_video(tmp_path / name, **kwargs)

    return make


@pytest.fixture(scope="session")
def tiny_restorer():
    """The real Restorer with the tiny config and random weights (small tile/window for speed)."""
    from vidrestore.restorer import Restorer

    return Restorer.from_config(str(TINY_CONFIG), device="cpu", tile=64, tile_overlap=0, window=2,
                                window_overlap=0, steps=1, seed=0)


@pytest.fixture(scope="session")
def tiny_model_file(tmp_path_factory, tiny_restorer):
    """TEST FIXTURE ONLY: the random tiny model saved as if trained, so `--model PATH` loads it.

    Real runs refuse untrained weights; this file exists only inside the test session.
    """
    path = tmp_path_factory.mktemp("model") / "tiny-random-TEST-ONLY.safetensors"
    tiny_restorer.save(str(path), trained=True)
    return path
