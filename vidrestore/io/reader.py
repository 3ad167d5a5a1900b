"""Decode the video stream to float RGB frames in a background thread (bounded queue)."""

from __future__ import annotations

import math
import queue
import re
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import torch

from vidrestore.errors import InputError
from vidrestore.io.colour import Conversion, frame_to_tensor
from vidrestore.io.probe import main_video_stream, open_input


@dataclass(frozen=True)
class Position:
    """A point in the video: seconds from the first frame, or a frame number (0-based)."""

    value: float
    frames: bool = False

    @classmethod
    def parse(cls, text: str) -> "Position":
        """``"12.5"`` / ``"1:02.5"`` / ``"01:00:02"`` are seconds; ``"300f"`` is frame 300."""
        text = str(text).strip()
        m = re.fullmatch(r"(\d+)\s*f", text)
        if m:
            return cls(int(m.group(1)), frames=True)
        parts = text.split(":")
        try:
            if len(parts) > 3 or not text:
                raise ValueError
            seconds = 0.0
            for part in parts:
                seconds = seconds * 60 + float(part)
        except ValueError:
            raise InputError(f"bad time {text!r}: use seconds (12.5), [hh:]mm:ss(.s) or a frame number like 300f") from None
        if seconds < 0 or not math.isfinite(seconds):
            raise InputError(f"bad time {text!r}: must be >= 0")
        return cls(seconds, frames=False)

    def __str__(self) -> str:
        return f"{int(self.value)}f" if self.frames else f"{self.value:g}s"


@dataclass
class Frame:
    """One decoded frame: output index, presentation time in the source time base, RGB image."""

    index: int
    pts: int
    duration: int  # in time base units (best guess; used only for the end time of the last frame)
    image: torch.Tensor  # float32 (3, H, W) in [0, 1]


_END = object()


class FrameReader:
    """Iterate over the frames of the main video stream, decoded and converted in a worker thread.

    ``start``/``end`` select a span (end exclusive). Decode errors are not fatal: a damaged
    or truncated file yields what decodes, and :attr:`warnings` says what was lost.
    Memory is bounded by ``queue_size`` frames.
    """

    def __init__(self, path: str | Path, conversion: Conversion, start: Position | None = None,
                 end: Position | None = None, queue_size: int = 8):
        self.path = Path(path)
        self.conversion = conversion
        self.start, self.end = start, end
        self.warnings: list[str] = []
        self.decode_errors = 0
        self.first_pts: int | None = None  # pts of the span's first frame, once decoded
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._container = open_input(self.path)
        self.stream = main_video_stream(self._container)
        self.time_base = Fraction(self.stream.time_base)
        self._thread = threading.Thread(target=self._run, name="vidrestore-decode", daemon=True)
        self._started = False

    # -- worker -----------------------------------------------------------------------------
    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            self._decode()
            self._put(_END)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer thread
            self._put(e)
        finally:
            self._container.close()

    def _decode(self) -> None:
        stream, tb = self.stream, self.time_base
        stream.thread_type = "AUTO"
        origin = stream.start_time or 0  # "second 0" is the stream's first timestamp
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        default_duration = max(1, round(1 / (Fraction(rate) * tb)))
        start, end = self.start, self.end
        if start is not None and not start.frames and start.value > 0 and not (end is not None and end.frames):
            # Seek to the keyframe before `start`; frames before it are decoded and dropped.
            self._container.seek(origin + int(start.value / tb), stream=stream, backward=True)
        source_index = -1  # frame number in the file (valid when not seeking)
        out_index = 0
        last_pts = None

        def packets():
            demux = self._container.demux(stream)
            while True:
                try:
                    packet = next(demux)
                except StopIteration:
                    return
                except av.FFmpegError as e:
                    self.warnings.append(f"input is damaged or truncated (reading stopped: {e}); "
                                         "restored the frames that decoded")
                    yield None  # flush the decoder
                    return
                yield packet

        for packet in packets():
            try:
                frames = stream.decode(packet)
            except av.FFmpegError:
                self.decode_errors += 1
                continue
            for frame in frames:
                source_index += 1
                pts = frame.pts if frame.pts is not None else (
                    (last_pts + default_duration) if last_pts is not None else origin)
                seconds = float((pts - origin) * tb)
                if start is not None:
                    if (start.value > source_index) if start.frames else (seconds < start.value - 1e-6):
                        continue
                if end is not None:
                    if (source_index >= end.value) if end.frames else (seconds >= end.value - 1e-6):
                        return
                if last_pts is not None and pts <= last_pts:
                    pts = last_pts + 1  # broken/duplicate timestamps would stop the encoder
                last_pts = pts
                duration = frame.duration or default_duration
                if out_index == 0:
                    self.first_pts = pts
                image = frame_to_tensor(frame, self.conversion)
                if not self._put(Frame(out_index, pts, duration, image)):
                    return
                out_index += 1
        if self.decode_errors:
            self.warnings.append(f"{self.decode_errors} damaged packet(s) could not be decoded and were skipped")

    # -- consumer ---------------------------------------------------------------------------
    def __iter__(self):
        if not self._started:
            self._started = True
            self._thread.start()
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                if isinstance(item, av.FFmpegError):
                    raise InputError(f"cannot decode {self.path}: {item}") from item
                raise item
            yield item

    def close(self) -> None:
        """Stop the worker (safe to call at any time, also after an error)."""
        self._stop.set()
        if self._started:
            self._thread.join(timeout=10)
        else:
            self._container.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
