"""``source``: a small frame-accurate PyAV source filter, so ``samples/restore.vpy`` needs no plugin.

The file is indexed once by demuxing (no decoding): the presentation timestamps of the
video packets, sorted, give frame ``n``'s timestamp. Frame ``n`` is decoded by continuing
the running decoder when ``n`` lies a little ahead of it, otherwise by seeking to the
keyframe before ``n``; decoded frames land in a small LRU cache. Streams without
timestamps fall back to decoding from the start on every backwards seek (slow but exact).

For long films or exotic containers prefer a dedicated indexer such as
``vapoursynth-bestsource`` (``core.bs.VideoSource``).
"""

from __future__ import annotations

import bisect
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import vapoursynth as vs

core = vs.core

#: Decode forward instead of seeking when the wanted frame is at most this far ahead.
_READ_AHEAD = 48

#: PyAV pixel format -> (VapourSynth format, full-range flag, plane order); others are converted.
_FORMATS: dict[str, tuple[int, bool, tuple[int, ...]]] = {
    "yuv420p": (vs.YUV420P8, False, (0, 1, 2)), "yuvj420p": (vs.YUV420P8, True, (0, 1, 2)),
    "yuv422p": (vs.YUV422P8, False, (0, 1, 2)), "yuvj422p": (vs.YUV422P8, True, (0, 1, 2)),
    "yuv444p": (vs.YUV444P8, False, (0, 1, 2)), "yuvj444p": (vs.YUV444P8, True, (0, 1, 2)),
    "yuv420p10le": (vs.YUV420P10, False, (0, 1, 2)), "yuv422p10le": (vs.YUV422P10, False, (0, 1, 2)),
    "yuv444p10le": (vs.YUV444P10, False, (0, 1, 2)), "yuv420p12le": (vs.YUV420P12, False, (0, 1, 2)),
    "yuv420p16le": (vs.YUV420P16, False, (0, 1, 2)), "yuv444p16le": (vs.YUV444P16, False, (0, 1, 2)),
    "gray": (vs.GRAY8, False, (0,)), "gray10le": (vs.GRAY10, False, (0,)), "gray16le": (vs.GRAY16, False, (0,)),
    "gbrp": (vs.RGB24, True, (2, 0, 1)), "gbrp10le": (vs.RGB30, True, (2, 0, 1)),
    "gbrp16le": (vs.RGB48, True, (2, 0, 1)),
}
_FALLBACK_RGB, _FALLBACK_YUV = "gbrp16le", "yuv444p16le"

#: AVPictureType -> ``_PictType``.
_PICT_TYPES = {1: "I", 2: "P", 3: "B"}


@dataclass
class _Decoded:
    """One decoded frame: planes in VapourSynth order and its frame props."""

    planes: list[np.ndarray]
    props: dict = field(default_factory=dict)


class _Reader:
    """Thread-safe random access to the frames of one video stream."""

    def __init__(self, path: str, cache_frames: int) -> None:
        import av

        self.path = path
        try:
            self.container = av.open(path)
        except (OSError, av.error.FFmpegError) as e:
            raise vs.Error(f"vidrestore: cannot open {path}: {e}") from None
        if not self.container.streams.video:
            raise vs.Error(f"vidrestore: {path} has no video stream")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        self.pts = self._index()
        self._lock = threading.Lock()
        self._cache: OrderedDict[int, _Decoded] = OrderedDict()
        self._capacity = max(1, cache_frames)
        self._frames = None  # running decode iterator
        self._next = None  # frame number the iterator yields next (None: unknown)
        self.pix_fmt, self.vs_format, self.full_range, self.order = self._pick_format()

    # --- index ------------------------------------------------------------------------------------
    def _index(self) -> list[int] | None:
        """Sorted packet timestamps (one per frame), or None if the stream lacks them."""
        pts = []
        for packet in self.container.demux(self.stream):
            if packet.size == 0:
                continue
            if packet.pts is None:
                return None
            pts.append(packet.pts)
        self.container.seek(0)
        if not pts:
            raise vs.Error(f"vidrestore: {self.path} has no video frames")
        return sorted(pts)

    @property
    def num_frames(self) -> int:
        if self.pts is None:
            self.pts_count = getattr(self, "pts_count", None) or self._count_by_decoding()
            return self.pts_count
        return len(self.pts)

    def _count_by_decoding(self) -> int:
        count = sum(1 for _ in self.container.decode(self.stream))
        self.container.seek(0)
        self._frames, self._next = None, None
        return count

    def _frame_number(self, frame, counter: int) -> int:
        if self.pts is None or frame.pts is None:
            return counter
        i = bisect.bisect_left(self.pts, frame.pts)
        return min(i, len(self.pts) - 1)

    # --- format -----------------------------------------------------------------------------------
    def _pick_format(self) -> tuple[str, int, bool, tuple[int, ...]]:
        name = self.stream.codec_context.format.name if self.stream.codec_context.format else "yuv420p"
        if name not in _FORMATS:
            is_rgb = any(c in name for c in ("rgb", "bgr", "gbr"))
            name = _FALLBACK_RGB if is_rgb else _FALLBACK_YUV
        vs_format, full_range, order = _FORMATS[name]
        return name, vs_format, full_range, order

    @property
    def fps(self) -> Fraction:
        rate = self.stream.average_rate or self.stream.guessed_rate or Fraction(25)
        return Fraction(rate)

    # --- decoding ---------------------------------------------------------------------------------
    def get(self, n: int) -> _Decoded:
        """Frame ``n`` (decoding, seeking and caching as needed)."""
        with self._lock:
            if n in self._cache:
                self._cache.move_to_end(n)
                return self._cache[n]
            if self._frames is None or self._next is None or not self._next <= n <= self._next + _READ_AHEAD:
                self._seek(n)
            found = self._decode_until(n)
            if found is None:  # seek landed too late (inexact index): decode from the start
                self._seek(0)
                found = self._decode_until(n)
            if found is None:
                raise vs.Error(f"vidrestore: {self.path}: frame {n} could not be decoded")
            return found

    def _seek(self, n: int) -> None:
        if self.pts is None or n == 0:
            self.container.seek(0)
            self._next = 0
        else:
            self.container.seek(self.pts[n], stream=self.stream, backward=True, any_frame=False)
            self._next = None
        self._frames = self.container.decode(self.stream)

    def _decode_until(self, n: int) -> _Decoded | None:
        counter = self._next or 0
        for frame in self._frames:
            i = self._frame_number(frame, counter)
            counter = i + 1
            self._next = counter
            if i > n and n not in self._cache:
                return None
            decoded = self._convert(frame)
            self._store(i, decoded)
            if i >= n:
                return self._cache.get(n)
        self._frames, self._next = None, None
        return self._cache.get(n)

    def _store(self, i: int, decoded: _Decoded) -> None:
        self._cache[i] = decoded
        self._cache.move_to_end(i)
        while len(self._cache) > self._capacity:
            self._cache.popitem(last=False)

    def _convert(self, frame) -> _Decoded:
        if frame.format.name != self.pix_fmt:
            frame = frame.reformat(format=self.pix_fmt)
        fmt = core.get_video_format(self.vs_format)
        dtype = np.uint8 if fmt.bytes_per_sample == 1 else np.uint16
        planes = []
        for p in self.order:
            plane = frame.planes[p]
            rows = np.frombuffer(plane, dtype=dtype).reshape(plane.height, plane.line_size // fmt.bytes_per_sample)
            planes.append(rows[:, :plane.width])
        return _Decoded(planes=planes, props=self._props(frame))

    def _props(self, frame) -> dict:
        props = {}
        fmt = core.get_video_format(self.vs_format)
        if fmt.color_family != vs.RGB:
            if frame.colorspace not in (None, 2):
                props["_Matrix"] = int(frame.colorspace)
            if frame.chroma_location:
                props["_ChromaLocation"] = int(frame.chroma_location) - 1
        for key, value in (("_Transfer", frame.color_trc), ("_Primaries", frame.color_primaries)):
            if value not in (None, 0, 2):
                props[key] = int(value)
        full = self.full_range or frame.color_range == 2
        limited = frame.color_range == 1 and not self.full_range
        if full or limited:
            if hasattr(vs, "Range"):  # R74+: _Range, 1 = full
                props["_Range"] = int(vs.RANGE_FULL if full else vs.RANGE_LIMITED)
            else:  # older API4: _ColorRange, 0 = full
                props["_ColorRange"] = 0 if full else 1
        if frame.pts is not None and frame.time_base is not None:
            props["_AbsoluteTime"] = float(frame.pts * frame.time_base)
        pict = _PICT_TYPES.get(int(frame.pict_type or 0))
        if pict:
            props["_PictType"] = pict
        return props


def source(path: str | os.PathLike, cache_frames: int = 32) -> vs.VideoNode:
    """Open a video file with PyAV as a frame-accurate, seekable clip.

    Args:
        path: a video file PyAV/FFmpeg can read; the first video stream is used.
        cache_frames: decoded frames kept for repeated or nearby requests.

    Returns:
        A constant-format clip (YUV/GRAY/RGB as decoded; other pixel formats become
        YUV444P16 or RGB48) with ``_Matrix``, ``_Transfer``, ``_Primaries``, ``_Range``,
        ``_ChromaLocation``, ``_AbsoluteTime`` and ``_PictType`` props where known.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise vs.Error(f"vidrestore: no such file: {path}")
    reader = _Reader(path, cache_frames)
    fps = reader.fps
    blank = core.std.BlankClip(format=reader.vs_format, width=reader.stream.codec_context.width,
                               height=reader.stream.codec_context.height, length=reader.num_frames,
                               fpsnum=fps.numerator, fpsden=fps.denominator, keep=True)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        decoded = reader.get(n)
        out = f.copy()
        for p, data in enumerate(decoded.planes):
            np.copyto(np.asarray(out[p]), data)
        for key, value in decoded.props.items():
            out.props[key] = value
        return out

    return core.std.ModifyFrame(blank, blank, fill)  # `fill` keeps the reader alive
