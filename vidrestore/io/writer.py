"""Encode restored frames and mux them with the input's other streams, copied packet for packet.

* :func:`plan_encoder` turns user settings + the source description into an :class:`EncoderPlan`
  (codec, pixel format, size, options, colour tags), validating it by opening the encoder once.
* :class:`OutputFile` writes a container to a temporary file beside the destination and renames
  it into place only in :meth:`OutputFile.commit`; :meth:`OutputFile.abort` deletes it.
  Audio, subtitle, data and attachment streams are copied from the input without re-encoding,
  interleaved by time with the video packets (read lazily, so memory stays bounded).
* :class:`VideoEncoder` converts float RGB frames to the output pixel format and encodes them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
import torch

from vidrestore.errors import OutputError
from vidrestore.io.colour import (RANGE_FULL, RANGE_LIMITED, RANGE_UNSPECIFIED, SPC_BT709, SPC_RGB, Colour,
                                  Conversion, tag, tensor_to_frame)
from vidrestore.io.probe import VideoInfo, main_video_stream, open_input

# Per-encoder defaults: visually transparent quality at a sensible speed.
CODEC_DEFAULTS: dict[str, dict[str, str]] = {
    "libx264": {"crf": "18", "preset": "medium"},
    "libx265": {"crf": "20", "preset": "medium"},
    "libsvtav1": {"crf": "28", "preset": "8"},
    "ffv1": {"level": "3", "slicecrc": "1"},
}
KNOWN_CODECS = ("libx264", "libx265", "libsvtav1", "ffv1")

# Stream metadata that describes the old encode, not the content: never copied.
_STALE_METADATA = {"encoder", "duration", "rotate", "vendor_id", "creation_time", "number_of_frames",
                   "number_of_bytes", "bps", "_statistics_tags", "_statistics_writing_app",
                   "_statistics_writing_date_utc", "major_brand", "minor_version", "compatible_brands"}


def _copyable_metadata(metadata: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in metadata.items() if k.lower().split("-")[0] not in _STALE_METADATA}


@dataclass
class EncoderSettings:
    """What the user asked for (``None`` = choose a default)."""

    codec: str = "libx264"
    crf: float | None = None
    preset: str | None = None
    pix_fmt: str | None = None
    options: dict[str, str] = field(default_factory=dict)  # -e key=value, passed to the encoder


@dataclass
class EncoderPlan:
    """Everything needed to open the video encoder identically for every segment."""

    codec: str
    pix_fmt: str
    width: int  # picture size (= source size)
    height: int
    coded_width: int  # encoded size (source size padded only if the encoder requires it)
    coded_height: int
    options: dict[str, str]
    colour: Colour  # tags written to the output
    conversion: Conversion  # how float RGB is turned into the output pixel format
    time_base: Fraction
    rate: Fraction | None
    sample_aspect_ratio: Fraction | None
    display_matrix: tuple[int, ...] | None
    chroma_location: int
    notes: list[str] = field(default_factory=list)  # things the user should be told

    @property
    def padded(self) -> bool:
        return (self.coded_width, self.coded_height) != (self.width, self.height)


def encoder_names() -> list[str]:
    """Video encoders this build of FFmpeg offers (for error messages)."""
    names = []
    for name in sorted(av.codecs_available):
        try:
            codec = av.Codec(name, "w")
        except Exception:  # noqa: BLE001 - decoders only
            continue
        if codec.type == "video":
            names.append(name)
    return names


def _default_pix_fmt(codec: av.Codec, source: str) -> str:
    supported = [f.name for f in codec.video_formats or [] if not f.name.startswith("yuvj")]
    if source.startswith("yuvj"):  # deprecated full-range aliases: same layout, range in the tags
        source = "yuv" + source[4:]
    if not supported or source in supported:
        return source
    best, _ = av.codec.codec.find_best_pix_fmt_of_list(supported, source)
    return best.name if best is not None else supported[0]


def _output_colour(source: VideoInfo, pix_fmt: str) -> Colour:
    """Tags for the output: the source's, adjusted only where the pixel family changes."""
    colour = source.colour
    in_rgb = av.VideoFormat(source.pix_fmt).is_rgb
    out_rgb = av.VideoFormat(pix_fmt).is_rgb
    if source.pix_fmt.startswith("yuvj") and colour.range == RANGE_UNSPECIFIED:
        colour = Colour(colour.matrix, RANGE_FULL, colour.primaries, colour.transfer)
    if in_rgb and not out_rgb:
        colour = Colour(SPC_BT709, RANGE_LIMITED, colour.primaries, colour.transfer)
    elif out_rgb and not in_rgb:
        colour = Colour(SPC_RGB, RANGE_FULL, colour.primaries, colour.transfer)
    return colour


def _codec_options(codec: str, settings: EncoderSettings, private: set[str]) -> dict[str, str]:
    options = dict(CODEC_DEFAULTS.get(codec, {}))
    if settings.crf is not None:
        if "crf" not in private:
            raise OutputError(f"--crf does not apply to {codec} (use -e key=value for its own options)")
        options["crf"] = f"{settings.crf:g}"
    if settings.preset is not None:
        if "preset" not in private:
            raise OutputError(f"--preset does not apply to {codec}")
        options["preset"] = str(settings.preset)
    options.update(settings.options)
    if codec == "libx265":  # x265 prints its banner to stderr unless told otherwise
        params = options.get("x265-params", "")
        if "log-level" not in params:
            options["x265-params"] = ":".join(p for p in (params, "log-level=error") if p)
    if codec == "libsvtav1":
        os.environ.setdefault("SVT_LOG", "1")  # errors only
    return options


def _open_test(plan: EncoderPlan, width: int, height: int) -> str | None:
    """Open the encoder once with the planned settings; return the error text, or None if it works."""
    ctx = av.CodecContext.create(plan.codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, plan.pix_fmt
    ctx.time_base = plan.time_base
    if plan.rate:
        ctx.framerate = plan.rate
    try:
        ctx.options = dict(plan.options)
        ctx.open()
    except (av.FFmpegError, ValueError) as e:
        return str(e)
    return None  # the context is freed when garbage-collected


def plan_encoder(settings: EncoderSettings, source: VideoInfo) -> EncoderPlan:
    """Resolve defaults and check the encoder accepts the result (raises :class:`OutputError`)."""
    try:
        codec = av.Codec(settings.codec, "w")
    except Exception:  # noqa: BLE001 - av.codec.codec.UnknownCodecError and friends
        raise OutputError(f"unknown video encoder {settings.codec!r}; this FFmpeg offers e.g. "
                          f"{', '.join(c for c in KNOWN_CODECS if c in av.codecs_available)}") from None
    if codec.type != "video":
        raise OutputError(f"{settings.codec!r} is not a video encoder")
    supported = [f.name for f in codec.video_formats or []]
    pix_fmt = settings.pix_fmt or _default_pix_fmt(codec, source.pix_fmt)
    if supported and pix_fmt not in supported:
        raise OutputError(f"{codec.name} cannot encode pixel format {pix_fmt!r}; it supports {', '.join(supported)}")
    private = {o.name for o in av.CodecContext.create(codec.name, "w").supported_options.private}
    colour = _output_colour(source, pix_fmt)
    plan = EncoderPlan(
        codec=codec.name, pix_fmt=pix_fmt, width=source.width, height=source.height,
        coded_width=source.width, coded_height=source.height,
        options=_codec_options(codec.name, settings, private), colour=colour,
        conversion=Conversion.for_stream(colour if colour.matrix != SPC_RGB else source.colour, pix_fmt,
                                         source.width, source.height),
        time_base=source.time_base, rate=source.average_rate, sample_aspect_ratio=source.sample_aspect_ratio,
        display_matrix=source.display_matrix, chroma_location=source.chroma_location,
    )
    if pix_fmt != source.pix_fmt and not settings.pix_fmt and not source.pix_fmt.startswith("yuvj"):
        plan.notes.append(f"{codec.name} cannot store {source.pix_fmt}; encoding as {pix_fmt}")
    error = _open_test(plan, plan.width, plan.height)
    if error is not None:
        fmt = av.VideoFormat(pix_fmt)  # pad to the chroma subsampling grid, and only that far
        sub_w = 2 if fmt.chroma_width(plan.width * 2) == plan.width else 1
        sub_h = 2 if fmt.chroma_height(plan.height * 2) == plan.height else 1
        pw, ph = -(-plan.width // sub_w) * sub_w, -(-plan.height // sub_h) * sub_h
        if (pw, ph) != (plan.width, plan.height) and _open_test(plan, pw, ph) is None:
            plan.coded_width, plan.coded_height = pw, ph
            plan.notes.append(f"{codec.name} needs even sizes for {pix_fmt}: padded {plan.width}x{plan.height} "
                              f"to {pw}x{ph} (edge pixels repeated)")
        else:
            opts = " ".join(f"{k}={v}" for k, v in plan.options.items())
            raise OutputError(f"{codec.name} refused the settings ({pix_fmt}, {plan.width}x{plan.height}, {opts}): {error}")
    return plan


def add_video_stream(container: av.container.OutputContainer, plan: EncoderPlan, metadata: dict[str, str]):
    """Add and configure the encoded video stream (raises :class:`OutputError` if the container refuses)."""
    try:
        stream = container.add_stream(plan.codec, rate=plan.rate, options=dict(plan.options))
    except ValueError as e:
        raise OutputError(f"{Path(container.name).suffix or container.format.name} files cannot hold "
                          f"{plan.codec} video; choose another --codec or use .mkv ({e})") from None
    stream.width, stream.height, stream.pix_fmt = plan.coded_width, plan.coded_height, plan.pix_fmt
    ctx = stream.codec_context
    ctx.time_base = plan.time_base
    stream.time_base = plan.time_base
    ctx.thread_type = "AUTO"
    ctx.color_range = plan.colour.range
    ctx.colorspace = plan.colour.matrix
    ctx.color_primaries = plan.colour.primaries
    ctx.color_trc = plan.colour.transfer
    ctx.chroma_sample_location = plan.chroma_location
    if plan.sample_aspect_ratio:
        ctx.sample_aspect_ratio = plan.sample_aspect_ratio
    if plan.display_matrix:
        stream.set_display_matrix(list(plan.display_matrix))
    stream.metadata.update(_copyable_metadata(metadata))
    return stream


class VideoEncoder:
    """Float RGB frames -> encoded packets for one video stream (frames keep their pts)."""

    def __init__(self, stream, plan: EncoderPlan):
        self.stream, self.plan = stream, plan
        self.frames = 0

    def encode(self, image: torch.Tensor, pts: int) -> list[av.Packet]:
        plan = self.plan
        pad = (plan.coded_width, plan.coded_height) if plan.padded else None
        frame = tensor_to_frame(image, plan.pix_fmt, plan.conversion, plan.colour, pad_to=pad)
        frame.pts = pts
        frame.time_base = plan.time_base
        self.frames += 1
        return self.stream.encode(frame)

    def flush(self) -> list[av.Packet]:
        return self.stream.encode(None)


def temp_path_for(path: Path, tag_: str = "partial") -> Path:
    """Hidden temp file beside ``path`` with the same extension (so the muxer is the same)."""
    return path.with_name(f".{path.stem}.vidrestore-{tag_}{path.suffix}")


_DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


def _named_layout(layout) -> str:
    """Encoders refuse unordered layouts ("2 channels"): use the default layout for that count."""
    name = layout.name
    if "channels" in name:
        return _DEFAULT_LAYOUTS.get(len(layout.channels), name)
    return name


class _SideStreams:
    """Non-video streams of the input, demuxed lazily and muxed into the output by time."""

    def __init__(self, input_path: Path, video_index: int, no_audio: bool, log: Callable[[str], None]):
        self.container = open_input(input_path)
        self.video_index = video_index
        self.no_audio = no_audio
        self.log = log
        self.map: dict[int, object] = {}  # input stream index -> output stream
        self.reencode: dict[int, object] = {}  # input stream index -> output stream (decoded + encoded)
        self.window: tuple[float | None, float | None] = (None, None)  # seconds, absolute
        self.offset = 0.0  # seconds subtracted from every timestamp (when the output is trimmed)
        self._demux = None
        self._pending: av.Packet | None = None
        self._done = False

    def add_streams(self, out: av.container.OutputContainer, make_video: Callable[[], object]):
        """Create output streams in input order; the restored video keeps its index."""
        main = main_video_stream(self.container)
        for stream in self.container.streams:
            if stream.index == main.index:
                make_video()
                continue
            if self.no_audio and stream.type == "audio":
                continue
            try:
                out_stream = out.add_stream_from_template(stream)
            except (ValueError, av.FFmpegError) as e:
                out_stream = self._fallback(out, stream, e)
                if out_stream is None:
                    continue
            else:
                self.map[stream.index] = out_stream
            out_stream.metadata.update(_copyable_metadata(stream.metadata))
        keep = set(self.map) | set(self.reencode)
        for stream in self.container.streams:
            if stream.index not in keep:
                stream.discard = av.stream.Discard.all

    def _fallback(self, out, stream, error):
        codec = stream.codec_context.codec.name if stream.codec_context and stream.codec_context.codec else "unknown"
        where = Path(out.name).suffix or out.format.name
        if stream.type == "audio" and stream.codec_context is not None:
            target = "aac" if "aac" in out.supported_codecs else out.default_audio_codec
            ctx = stream.codec_context
            try:
                new = out.add_stream(target, rate=ctx.sample_rate, layout=_named_layout(ctx.layout))
                formats = av.Codec(target, "w").audio_formats or []
                if formats and ctx.format is not None and ctx.format.name not in [f.name for f in formats]:
                    new.format = formats[0]  # the encoder resamples to its own sample format
            except Exception as e:  # noqa: BLE001
                raise OutputError(f"{where} files cannot hold the {codec} audio of stream #{stream.index} "
                                  f"and re-encoding it failed ({e}); use .mkv or --no-audio") from None
            self.reencode[stream.index] = new
            self.log(f"note: {where} files cannot hold {codec} audio; re-encoding stream #{stream.index} to {target}")
            return new
        self.log(f"warning: {where} files cannot hold {stream.type} stream #{stream.index} ({codec}); "
                 "it is left out (use .mkv to keep it)")
        return None

    # -- muxing ------------------------------------------------------------------------------
    def _next(self) -> av.Packet | None:
        if self._pending is None and not self._done:
            if self._demux is None:
                wanted = [self.container.streams[i] for i in (*self.map, *self.reencode)]
                if not wanted:
                    self._done = True
                    return None
                self._demux = self.container.demux(wanted)
            try:
                while True:
                    packet = next(self._demux)
                    if packet.pts is not None or packet.dts is not None:
                        self._pending = packet
                        break
                    if packet.size == 0:  # PyAV's end-of-stream flush packet
                        continue
                    self._pending = packet
                    break
            except (StopIteration, av.FFmpegError):
                self._done = True
        return self._pending

    @staticmethod
    def _time(packet: av.Packet) -> float:
        ts = packet.dts if packet.dts is not None else packet.pts
        return float(ts * packet.time_base) if ts is not None else float("-inf")

    def mux_until(self, out: av.container.OutputContainer, seconds: float) -> None:
        """Mux every pending packet with a timestamp up to ``seconds`` (absolute input time)."""
        start, end = self.window
        while (packet := self._next()) is not None and self._time(packet) <= seconds:
            self._pending = None
            t = float(packet.pts * packet.time_base) if packet.pts is not None else self._time(packet)
            dur = float(packet.duration * packet.time_base) if packet.duration else 0.0
            if start is not None and t + dur <= start:
                continue
            if end is not None and t >= end:
                continue
            self._mux(out, packet)

    def _mux(self, out, packet: av.Packet) -> None:
        index = packet.stream.index
        if self.offset:
            shift = round(self.offset / packet.time_base)
            if packet.pts is not None:
                packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
        if index in self.map:
            packet.stream = self.map[index]
            out.mux(packet)
            return
        target = self.reencode[index]
        for frame in packet.decode():
            if self.offset and frame.pts is not None:
                frame.pts -= round(self.offset / frame.time_base)
            out.mux(target.encode(frame))

    def finish(self, out) -> None:
        self.mux_until(out, float("inf"))
        for stream in self.reencode.values():
            out.mux(stream.encode(None))

    def close(self) -> None:
        self.container.close()


class OutputFile:
    """A container being written to a temp file beside ``path``.

    With ``copy_from`` the input's non-video streams are copied in; video comes either from
    an encoder (:meth:`add_encoder`) or, for concatenating segments, as ready packets
    (:meth:`add_copied_video`). Call :meth:`mux_video` for video packets, then
    :meth:`commit` to finish and rename, or :meth:`abort` to delete the temp file.
    """

    def __init__(self, path: Path, copy_from: Path | None = None, video_index: int = 0, no_audio: bool = False,
                 video_metadata: dict[str, str] | None = None, container_metadata: dict[str, str] | None = None,
                 log: Callable[[str], None] = print, tmp_tag: str = "partial"):
        self.path = Path(path)
        self.tmp = temp_path_for(self.path, tmp_tag)
        self.video_metadata = video_metadata or {}
        self.log = log
        try:
            self.container = av.open(str(self.tmp), "w")
        except (av.FFmpegError, ValueError, OSError) as e:
            self._unlink()
            raise OutputError(f"cannot write {self.path}: {getattr(e, 'strerror', None) or e}") from None
        self.container.metadata.update(_copyable_metadata(container_metadata or {}))
        self.side = _SideStreams(copy_from, video_index, no_audio, log) if copy_from else None
        self.video_stream = None
        self._closed = False

    def _add_streams(self, make_video: Callable[[], object]):
        try:
            if self.side is not None:
                self.side.add_streams(self.container, make_video)
            else:
                make_video()
        except BaseException:
            self.abort()
            raise

    def add_encoder(self, plan: EncoderPlan) -> VideoEncoder:
        def make():
            self.video_stream = add_video_stream(self.container, plan, self.video_metadata)
        self._add_streams(make)
        return VideoEncoder(self.video_stream, plan)

    def add_copied_video(self, template) -> None:
        def make():
            self.video_stream = self.container.add_stream_from_template(template)
            if template.codec_context is not None:
                matrix = (template.codec_context.coded_side_data or {}).get("display_matrix")
                if matrix:
                    import struct
                    self.video_stream.set_display_matrix(list(struct.unpack("<9i", matrix[:36])))
            self.video_stream.metadata.update(_copyable_metadata(self.video_metadata))
        self._add_streams(make)

    def set_window(self, start: float | None, end: float | None, offset: float = 0.0) -> None:
        """Copy only side-stream packets within [start, end) seconds, shifted by ``-offset``."""
        if self.side is not None:
            self.side.window = (start, end)
            self.side.offset = offset

    def mux_video(self, packets: list[av.Packet], offset_seconds: float = 0.0) -> None:
        """Mux video packets, first muxing side-stream packets that come before them."""
        for packet in packets:
            if self.side is not None:
                ts = packet.dts if packet.dts is not None else packet.pts
                if ts is not None:
                    self.side.mux_until(self.container, float(ts * packet.time_base) + offset_seconds)
            packet.stream = self.video_stream
            self.container.mux(packet)

    def commit(self) -> Path:
        """Write the trailer and move the file to its destination."""
        try:
            if self.side is not None:
                self.side.finish(self.container)
                self.side.close()
            self.container.close()
            self._closed = True
            os.replace(self.tmp, self.path)
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Close without finishing and delete the temp file (never touches ``path``)."""
        if not self._closed:
            self._closed = True
            for close in (getattr(self.side, "close", None), self.container.close):
                try:
                    if close:
                        close()
                except Exception:  # noqa: BLE001 - best effort while failing already
                    pass
        self._unlink()

    def _unlink(self) -> None:
        try:
            self.tmp.unlink()
        except FileNotFoundError:
            pass
