"""Inspect a media file: its streams and everything about the video stream that must survive restoration."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from vidrestore.errors import InputError
from vidrestore.io.colour import Colour, check_pixel_format


@dataclass
class StreamInfo:
    """One stream of a container, as the user would want to see it."""

    index: int
    type: str  # "video", "audio", "subtitle", "data", "attachment", "unknown"
    codec: str | None  # None when FFmpeg does not know the codec
    language: str | None = None
    detail: str = ""  # "48000 Hz stereo", "attached picture", ...


@dataclass
class VideoInfo:
    """The video stream vidrestore restores (the first one that is not cover art)."""

    index: int
    codec: str
    width: int
    height: int
    pix_fmt: str
    bit_depth: int
    time_base: Fraction
    average_rate: Fraction | None  # frames per second (average); None if unknown
    frames: int  # from the container header, 0 when the container does not say
    duration: float | None  # seconds
    start_time: float  # seconds
    colour: Colour
    rotation: float  # degrees counter-clockwise to display upright (0 if none)
    display_matrix: tuple[int, ...] | None  # FFmpeg's 3x3 int32 display matrix, as stored
    sample_aspect_ratio: Fraction | None
    chroma_location: int = 0

    @property
    def estimated_frames(self) -> int:
        """Frame count from the header, or duration x frame rate when the header has none."""
        if self.frames > 0:
            return self.frames
        if self.duration and self.average_rate:
            return max(1, round(self.duration * float(self.average_rate)))
        return 0


@dataclass
class MediaInfo:
    """What :func:`probe` found in a file."""

    path: Path
    format: str  # demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    duration: float | None  # seconds
    size: int  # bytes
    bit_rate: int | None
    metadata: dict[str, str]
    streams: list[StreamInfo] = field(default_factory=list)
    video: VideoInfo | None = None


def open_input(path: str | os.PathLike) -> av.container.InputContainer:
    """Open a media file for reading, turning every failure into a one-line :class:`InputError`."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"input file not found: {path}")
    if path.is_dir():
        raise InputError(f"input is a folder, not a video file: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"input file is empty: {path}")
    try:
        return av.open(str(path), "r")
    except av.FFmpegError as e:
        raise InputError(f"cannot read {path} as a media file (not a video, or truncated/damaged): "
                         f"{getattr(e, 'strerror', None) or e}") from e
    except OSError as e:
        raise InputError(f"cannot open {path}: {e.strerror or e}") from e


def main_video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    """The stream to restore: the first video stream that is not an attached picture (cover art)."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    if not len(container.streams):
        raise InputError("the file contains no streams (empty, or not a video)")
    raise InputError("the file has no video stream" + (" (it is audio-only)" if container.streams.audio else ""))


def _display_matrix(stream) -> tuple[int, ...] | None:
    data = (stream.codec_context.coded_side_data or {}).get("display_matrix") if stream.codec_context else None
    if not data or len(data) < 36:
        return None
    return struct.unpack("<9i", data[:36])


def _rotation(matrix: tuple[int, ...] | None) -> float:
    """Counter-clockwise rotation in degrees, as FFmpeg's av_display_rotation_get reports it."""
    if matrix is None:
        return 0.0
    import math

    a, b, _, c, d, *_ = (v / 65536.0 for v in matrix)
    scale0, scale1 = math.hypot(a, c), math.hypot(b, d)
    if scale0 == 0 or scale1 == 0:
        return 0.0
    rotation = math.degrees(math.atan2(b / scale1, a / scale0))
    return round(-rotation, 6) + 0.0  # FFmpeg returns clockwise-negative; report counter-clockwise


def video_info(stream) -> VideoInfo:
    """Describe the video stream (raises :class:`InputError` if it cannot be decoded)."""
    ctx = stream.codec_context
    if ctx is None or not stream.codec_context.codec:
        raise InputError("the video stream uses a codec this build of FFmpeg cannot decode")
    pix_fmt = ctx.pix_fmt
    fmt = check_pixel_format(pix_fmt)
    tb = Fraction(stream.time_base) if stream.time_base else Fraction(1, 90000)
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    duration = float(stream.duration * tb) if stream.duration else None
    if duration is None and stream.container.duration:
        duration = stream.container.duration / av.time_base
    matrix = _display_matrix(stream)
    sar = ctx.sample_aspect_ratio
    return VideoInfo(
        index=stream.index, codec=ctx.codec.canonical_name, width=ctx.width, height=ctx.height, pix_fmt=pix_fmt,
        bit_depth=max(c.bits for c in fmt.components), time_base=tb,
        average_rate=Fraction(rate) if rate else None, frames=stream.frames or 0, duration=duration,
        start_time=float(stream.start_time * tb) if stream.start_time is not None else 0.0,
        colour=Colour.of(ctx), rotation=_rotation(matrix), display_matrix=matrix,
        sample_aspect_ratio=Fraction(sar) if sar else None,
        chroma_location=int(ctx.chroma_sample_location or 0),
    )


def _stream_info(stream) -> StreamInfo:
    ctx = stream.codec_context
    codec = None
    if ctx is not None and ctx.codec is not None:
        codec = ctx.codec.canonical_name
    else:
        try:
            codec = stream.codec.name
        except Exception:  # noqa: BLE001 - attachments/data streams may have no codec at all
            codec = None
    detail = ""
    if stream.type == "audio" and ctx is not None:
        detail = f"{ctx.sample_rate} Hz {ctx.layout.name if ctx.layout else ''}".strip()
    elif stream.type == "video" and stream.disposition & av.stream.Disposition.attached_pic:
        detail = "attached picture"
    return StreamInfo(stream.index, stream.type, codec, stream.metadata.get("language"), detail)


def check_first_frame(container: av.container.InputContainer, stream) -> None:
    """Decode until the first video frame; :class:`InputError` if there is none (empty or undecodable)."""
    try:
        for packet in container.demux(stream):
            try:
                if packet.decode():
                    return
            except av.FFmpegError:
                continue  # a damaged packet: keep looking
    except av.FFmpegError as e:
        raise InputError(f"no video frame could be decoded ({e}); the file is damaged or truncated") from None
    raise InputError("the video stream has no frames (zero frames decodable)")


def probe(path: str | os.PathLike, require_video: bool = True, check_decode: bool = False) -> MediaInfo:
    """Read a file's header. Raises :class:`InputError` for anything vidrestore cannot restore.

    ``check_decode`` also decodes the first frame, so empty or undecodable video is reported
    before any expensive work starts.
    """
    path = Path(path)
    with open_input(path) as container:
        info = MediaInfo(
            path=path, format=container.format.name,
            duration=container.duration / av.time_base if container.duration else None,
            size=path.stat().st_size, bit_rate=container.bit_rate or None,
            metadata=dict(container.metadata), streams=[_stream_info(s) for s in container.streams],
        )
        try:
            stream = main_video_stream(container)
            info.video = video_info(stream)
            if check_decode:
                check_first_frame(container, stream)
        except InputError:
            if require_video:
                raise
    return info
