"""Streaming restoration of a video file: decode -> shots -> temporal windows -> restore -> encode.

Three threads: a decoder (:class:`~vidrestore.io.reader.FrameReader`), the model (the caller's
thread) and an encoder/muxer (:class:`_EncodeThread`), joined by bounded queues, so peak memory
depends on the model's window (or the chunk size) and the frame size, never on the video's length.

Shots. Frames are grouped into shots at scene cuts (:class:`SceneDetector`); nothing is restored
across a cut. A restorer with ``stream()`` (:class:`~vidrestore.restorer.Restorer`) restores each
shot as one stream of its temporal windows: every frame comes out exactly as if the whole shot had
been restored in one ``restore`` call, and the model runs on ``window / (window - overlap)`` frames
per frame. Any other restorer gets chunks of ``chunk_size`` frames, each sent with
``restorer.context`` extra frames on each side (clipped at the shot's ends) whose outputs are
dropped. Either way a frame's output depends only on its shot, never on how the run was split into
segments.

Resume. With ``resume=True`` the video is encoded in segments of ``segment_frames`` frames, each
its own file in ``.OUTPUT.vidrestore-parts/`` with a ``manifest.json``. A later run with the same
settings skips the finished segments (their frames are still decoded for context and scene
detection, but not restored), then the parts are concatenated packet for packet with the
input's audio and other streams, and the folder is removed.

The restorer is duck-typed: anything with ``restore(frames (T,3,H,W) float in [0,1]) ->
same shape`` and an integer ``context`` works; ``stream(skip_before, on_window)`` is used where
present (see :class:`vidrestore.restorer.Restorer`).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol

import av
import torch
import torch.nn.functional as F

from vidrestore.errors import InputError, OutputError
from vidrestore.io.colour import Conversion
from vidrestore.io.probe import MediaInfo, open_input, probe
from vidrestore.io.reader import Frame, FrameReader, Position
from vidrestore.io.writer import EncoderPlan, OutputFile, VideoEncoder

MANIFEST_VERSION = 2  # 2: shots restored as streams of the model's windows (frames differ from version 1's chunks)


class RestorerLike(Protocol):
    context: int

    def restore(self, frames: torch.Tensor) -> torch.Tensor: ...


# ---------------------------------------------------------------------------------------------
# Scene cuts and chunking (pure logic, no I/O)
# ---------------------------------------------------------------------------------------------
class SceneDetector:
    """Flags a cut when the colour histogram of a small thumbnail jumps.

    The score is the histogram distance (half the L1 distance, averaged over R, G, B; 0 = same
    distribution, 1 = disjoint) between consecutive frames; a cut is ``score > threshold``.
    Thumbnails average noise away, and histograms ignore motion, so noisy or fast-moving
    footage does not trigger false cuts. ``threshold >= 1`` disables detection.
    """

    def __init__(self, threshold: float = 0.35, bins: int = 16, size: tuple[int, int] = (36, 64)):
        self.threshold, self.bins, self.size = threshold, bins, size
        self._previous: torch.Tensor | None = None

    def histogram(self, image: torch.Tensor) -> torch.Tensor:
        thumb = F.adaptive_avg_pool2d(image[None].float(), self.size)[0]  # (3, h, w)
        idx = (thumb.clamp(0, 1) * (self.bins - 1e-4)).long().flatten(1)  # (3, h*w)
        hist = torch.zeros(3, self.bins).scatter_add_(1, idx, torch.ones_like(idx, dtype=torch.float32))
        return hist / idx.shape[1]

    def score(self, a: torch.Tensor, b: torch.Tensor) -> float:
        return float((self.histogram(a) - self.histogram(b)).abs().sum(1).mean() / 2)

    def is_cut(self, image: torch.Tensor) -> bool:
        """Feed the next frame; True if it starts a new shot (never for the first frame)."""
        hist = self.histogram(image)
        previous, self._previous = self._previous, hist
        if previous is None or self.threshold >= 1:
            return False
        return float((hist - previous).abs().sum(1).mean() / 2) > self.threshold


def restore_frames(frames: Iterable[Frame], restorer: RestorerLike, chunk_size: int = 16,
                   detector: SceneDetector | None = None, skip_before: int = 0,
                   on_chunk: Callable[[list[int]], None] | None = None) -> Iterator[tuple[Frame, torch.Tensor]]:
    """Restore a stream of frames shot by shot; yield ``(frame, restored image)`` in order.

    Frames with ``index < skip_before`` are consumed (as context and for scene detection) but
    not yielded, and windows (chunks) made only of such frames are not restored at all.
    ``on_chunk`` receives the frame indices of every window or chunk restored (for tests and logging).
    A restorer with ``stream()`` restores each shot as one stream; others chunk by chunk.
    """
    if hasattr(restorer, "stream"):
        yield from _restore_streamed(frames, restorer, detector, skip_before, on_chunk)
        return
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    context = max(0, int(getattr(restorer, "context", 0)))
    shot: list[Frame] = []  # frames of the current shot still needed (context + pending)
    core = 0  # position in `shot` of the next frame to restore

    def run_chunk(end: int) -> Iterator[tuple[Frame, torch.Tensor]]:
        nonlocal shot, core
        lo, hi = max(0, core - context), min(len(shot), end + context)
        targets = shot[core:end]
        if targets[-1].index >= skip_before:
            window = shot[lo:hi]
            if on_chunk is not None:
                on_chunk([f.index for f in window])
            restored = restorer.restore(torch.stack([f.image for f in window]))
            if restored.shape[0] != len(window):
                raise RuntimeError(f"restorer returned {restored.shape[0]} frames for {len(window)}")
            for k, frame in enumerate(targets, start=core - lo):
                if frame.index >= skip_before:
                    yield frame, restored[k]
        core = end
        drop = max(0, core - context)  # keep `context` frames before the next chunk
        shot, core = shot[drop:], core - drop

    def finish_shot() -> Iterator[tuple[Frame, torch.Tensor]]:
        while core < len(shot):
            yield from run_chunk(min(core + chunk_size, len(shot)))

    for frame in frames:
        if detector is not None and detector.is_cut(frame.image) and shot:
            yield from finish_shot()
            shot, core = [], 0
        shot.append(frame)
        while len(shot) >= core + chunk_size + context:
            yield from run_chunk(core + chunk_size)
    yield from finish_shot()


def _restore_streamed(frames: Iterable[Frame], restorer, detector: SceneDetector | None, skip_before: int,
                      on_chunk: Callable[[list[int]], None] | None) -> Iterator[tuple[Frame, torch.Tensor]]:
    """restore_frames for a restorer with ``stream()``: one stream per shot; frames wait in `pending`
    until the stream returns their output (at most about two windows of them)."""
    pending: deque[Frame] = deque()
    stream = None

    def flush(outs):
        for out in outs:
            frame = pending.popleft()
            if frame.index >= skip_before:
                yield frame, out

    for frame in frames:
        if detector is not None and detector.is_cut(frame.image) and stream is not None:
            yield from flush(stream.close())
            stream = None
        if stream is None:  # a new shot; its frames have consecutive indices from `first`
            first = frame.index
            report = None if on_chunk is None else (lambda t0, t1, first=first: on_chunk(list(range(first + t0, first + t1))))
            stream = restorer.stream(skip_before=max(0, skip_before - first), on_window=report)
        pending.append(frame)
        yield from flush(stream.push(frame.image))
    if stream is not None:
        yield from flush(stream.close())


# ---------------------------------------------------------------------------------------------
# Options, summary, segments
# ---------------------------------------------------------------------------------------------
@dataclass
class RunOptions:
    """How to run (everything except the model and the encoder plan)."""

    chunk_size: int = 16  # frames per restore call (plus context)
    scene_threshold: float = 0.35
    start: Position | None = None
    end: Position | None = None
    no_audio: bool = False
    resume: bool = False
    segment_frames: int = 1024  # with resume: frames per segment file
    progress: bool = True
    queue_size: int = 8  # frames buffered between threads


@dataclass
class Summary:
    frames: int
    seconds: float
    output: Path
    size: int
    resumed_frames: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        done = f"{self.frames} frames" + (f" ({self.resumed_frames} from an earlier run)" if self.resumed_frames else "")
        return (f"restored {done} in {self.seconds:.1f} s ({self.fps:.2f} fps) -> {self.output} "
                f"({_human_size(self.size)})")


def _human_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def parts_dir_for(output: Path) -> Path:
    """Work folder for ``--resume``: ``.OUTPUT.vidrestore-parts/`` beside the output."""
    return output.with_name(f".{output.name}.vidrestore-parts")


class SegmentStore:
    """The resume work folder: finished segment files plus a manifest naming them.

    The manifest records a fingerprint of everything that affects the output; resuming
    with a different input, model or settings is refused rather than silently mixed.
    """

    def __init__(self, output: Path, fingerprint: dict, segment_frames: int):
        self.dir = parts_dir_for(output)
        self.output = output
        self.fingerprint = fingerprint
        self.segment_frames = segment_frames
        self.done: list[dict] = []
        self.complete = False
        self.offset_seconds = 0.0  # how far the parts' timestamps are shifted from the input's
        path = self.dir / "manifest.json"
        if path.exists():
            try:
                manifest = json.loads(path.read_text())
            except (OSError, ValueError) as e:
                raise OutputError(f"resume folder {self.dir} has an unreadable manifest ({e}); delete the folder") from None
            if manifest.get("version") != MANIFEST_VERSION or manifest.get("fingerprint") != fingerprint:
                raise OutputError(f"{self.dir} holds parts made with a different input, model or settings; "
                                  "delete it to start over, or resume with the original options")
            self.segment_frames = manifest["segment_frames"]
            self.done = [s for s in manifest["segments"] if (self.dir / s["file"]).exists()]
            self.done = self.done[: next((i for i, s in enumerate(self.done) if s["index"] != i), len(self.done))]
            self.complete = manifest.get("complete", False) and len(self.done) == len(manifest["segments"])
            self.offset_seconds = manifest.get("offset_seconds", 0.0)
        else:
            self.dir.mkdir(exist_ok=True)
            self._save()

    @property
    def frames_done(self) -> int:
        return sum(s["frames"] for s in self.done)

    def part_path(self, index: int) -> Path:
        return self.dir / f"part_{index:05d}{self.output.suffix}"

    def mark_done(self, index: int, frames: int) -> None:
        self.done.append({"index": index, "file": self.part_path(index).name, "frames": frames})
        self._save()

    def mark_complete(self, offset_seconds: float) -> None:
        self.complete = True
        self.offset_seconds = offset_seconds
        self._save()

    def _save(self) -> None:
        manifest = {"version": MANIFEST_VERSION, "fingerprint": self.fingerprint,
                    "segment_frames": self.segment_frames, "segments": self.done, "complete": self.complete,
                    "offset_seconds": self.offset_seconds}
        tmp = self.dir / "manifest.json.tmp"
        tmp.write_text(json.dumps(manifest, indent=1))
        os.replace(tmp, self.dir / "manifest.json")

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Encoding targets (run in the encode thread)
# ---------------------------------------------------------------------------------------------
class _Timeline:
    """Output time: a trimmed output (``--start``) is shifted to start at 0, others keep the input's.

    :meth:`anchor` is called with the pts of the span's first frame before any frame is
    written (also when resuming, where that frame is decoded but not re-encoded).
    """

    def __init__(self, time_base: Fraction, trimmed: bool):
        self.time_base, self.trimmed = time_base, trimmed
        self.offset_pts = 0
        self.first_seconds: float | None = None  # absolute input time of the span's first frame
        self.end_seconds: float | None = None  # absolute input time where the last frame ends

    def anchor(self, first_pts: int) -> None:
        if self.first_seconds is None:
            self.first_seconds = float(first_pts * self.time_base)
            self.offset_pts = first_pts if self.trimmed else 0

    def place(self, frame: Frame) -> int:
        """Output pts of a frame (and remember where the video ends)."""
        self.end_seconds = float((frame.pts + frame.duration) * self.time_base)
        return frame.pts - self.offset_pts

    @property
    def offset_seconds(self) -> float:
        return float((self.offset_pts or 0) * self.time_base)


class _DirectTarget:
    """Encode straight into the output (temp file), copying the input's other streams alongside."""

    def __init__(self, out: OutputFile, plan: EncoderPlan, timeline: _Timeline, trim_end: bool):
        self.out, self.timeline, self.trim_end = out, timeline, trim_end
        self.encoder = out.add_encoder(plan)
        self._started = False

    def write(self, frame: Frame, image: torch.Tensor) -> None:
        pts = self.timeline.place(frame)
        if not self._started:
            self._started = True
            if self.timeline.trimmed:  # drop side-stream packets before the first frame
                self.out.set_window(self.timeline.first_seconds, None, self.timeline.offset_seconds)
        self.out.mux_video(self.encoder.encode(image, pts), self.timeline.offset_seconds)

    def finish(self) -> None:
        self.out.mux_video(self.encoder.flush(), self.timeline.offset_seconds)
        if self.timeline.trimmed or self.trim_end:
            self.out.set_window(self.timeline.first_seconds if self.timeline.trimmed else None,
                                self.timeline.end_seconds, self.timeline.offset_seconds)
        self.out.commit()

    def abort(self) -> None:
        self.out.abort()


class _SegmentTarget:
    """Encode into one file per segment; :meth:`finish` leaves concatenation to the caller."""

    def __init__(self, store: SegmentStore, plan: EncoderPlan, timeline: _Timeline, log):
        self.store, self.plan, self.timeline, self.log = store, plan, timeline, log
        self.index: int | None = None
        self.part: OutputFile | None = None
        self.encoder: VideoEncoder | None = None
        self.frames = 0

    def _close_part(self) -> None:
        if self.part is not None:
            self.part.mux_video(self.encoder.flush())
            self.part.commit()
            self.store.mark_done(self.index, self.frames)
            self.part = None

    def write(self, frame: Frame, image: torch.Tensor) -> None:
        pts = self.timeline.place(frame)
        index = frame.index // self.store.segment_frames
        if index != self.index:
            self._close_part()
            self.index, self.frames = index, 0
            self.part = OutputFile(self.store.part_path(index), log=self.log)
            self.encoder = self.part.add_encoder(self.plan)
        self.part.mux_video(self.encoder.encode(image, pts))
        self.frames += 1
        if self.frames == self.store.segment_frames:  # finished: close it now, not at the next frame
            self._close_part()

    def finish(self) -> None:
        self._close_part()
        self.store.mark_complete(self.timeline.offset_seconds)

    def abort(self) -> None:
        if self.part is not None:
            self.part.abort()
            self.part = None


_STOP, _ABORT = object(), object()


class _EncodeThread:
    """Runs a target's ``write`` for each restored frame in a worker thread (bounded queue)."""

    def __init__(self, target, queue_size: int):
        self.target = target
        self.queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.error: BaseException | None = None
        self.cancelled = threading.Event()
        self.thread = threading.Thread(target=self._run, name="vidrestore-encode", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while True:
                item = self.queue.get()
                if item is _ABORT:
                    return
                if item is _STOP or self.cancelled.is_set():
                    break
                self.target.write(*item)
            if not self.cancelled.is_set():
                self.target.finish()
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            self.error = e
            self.cancelled.set()
            self._drain()

    def _drain(self) -> None:
        while True:
            try:
                self.queue.get_nowait()
            except queue.Empty:
                return

    def _check(self) -> None:
        if self.error is not None:
            raise self.error

    def put(self, frame: Frame, image: torch.Tensor) -> None:
        while True:
            self._check()
            try:
                self.queue.put((frame, image), timeout=0.1)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        """Flush and finish the output; raises any error from the worker."""
        while self.thread.is_alive():
            self._check()
            try:
                self.queue.put(_STOP, timeout=0.1)
                break
            except queue.Full:
                continue
        self.thread.join()
        self._check()

    def abort(self, keep_queued: bool = False) -> None:
        """Stop the worker and delete unfinished files.

        ``keep_queued`` first writes the frames already restored (so finished segments of a
        resumable run are kept); otherwise they are dropped at once.
        """
        if keep_queued and self.error is None and self.thread.is_alive():
            self.queue.put(_ABORT)  # after the queued frames
            self.thread.join()
        self.cancelled.set()
        self._drain()
        try:
            self.queue.put_nowait(_STOP)
        except queue.Full:
            pass
        self.thread.join(timeout=30)
        self.target.abort()


# ---------------------------------------------------------------------------------------------
# The whole job
# ---------------------------------------------------------------------------------------------
def _concat_parts(store: SegmentStore, output: Path, info: MediaInfo, options: RunOptions, log) -> None:
    """Join finished parts losslessly (packet copy) and add the input's other streams."""
    video = info.video
    parts = [store.dir / s["file"] for s in store.done]
    if not parts:
        raise InputError("no frames to write")
    out = OutputFile(output, copy_from=info.path, video_index=video.index, no_audio=options.no_audio,
                     video_metadata=_video_metadata(info), container_metadata=info.metadata, log=log)
    try:
        with av.open(str(parts[0])) as first:
            out.add_copied_video(first.streams.video[0])
        trimmed = options.start is not None
        first_seconds = end_seconds = None
        last_dts = None
        for part in parts:
            with av.open(str(part)) as container:
                stream = container.streams.video[0]
                for packet in container.demux(stream):
                    if packet.size == 0:
                        continue
                    tb = packet.time_base
                    if packet.dts is not None:  # parts are separate encodes: keep DTS increasing
                        if last_dts is not None and packet.dts * tb <= last_dts:
                            packet.dts = int(last_dts / tb) + 1
                        last_dts = packet.dts * tb
                    if packet.pts is not None:
                        t = float(packet.pts * tb)
                        first_seconds = t if first_seconds is None else min(first_seconds, t)
                        end = t + float((packet.duration or 0) * tb)
                        end_seconds = end if end_seconds is None else max(end_seconds, end)
                    out.mux_video([packet], store.offset_seconds)
        if trimmed or options.end is not None:
            offset = store.offset_seconds
            out.set_window((first_seconds + offset) if trimmed else None, end_seconds + offset, offset)
        out.commit()
    except BaseException:
        out.abort()
        raise


def _video_metadata(info: MediaInfo) -> dict[str, str]:
    with open_input(info.path) as container:
        return dict(container.streams[info.video.index].metadata)


def _fingerprint(info: MediaInfo, plan: EncoderPlan, options: RunOptions, model_key: dict) -> dict:
    stat = info.path.stat()
    plan_dict = {k: (str(v) if isinstance(v, (Fraction, Path)) else v) for k, v in asdict(plan).items() if k != "notes"}
    return json.loads(json.dumps({
        "input": str(info.path.resolve()), "input_size": stat.st_size, "input_mtime_ns": stat.st_mtime_ns,
        "model": model_key, "plan": plan_dict, "chunk_size": options.chunk_size,
        "scene_threshold": options.scene_threshold, "start": str(options.start), "end": str(options.end),
    }, default=str))


def restore_file(input_path: str | os.PathLike, output_path: str | os.PathLike, restorer: RestorerLike,
                 plan: EncoderPlan, options: RunOptions | None = None, info: MediaInfo | None = None,
                 model_key: dict | None = None, log: Callable[[str], None] | None = None) -> Summary:
    """Restore ``input_path`` into ``output_path`` (see the module docstring for the design).

    Output is written to a temp file and renamed on success; on any error or interrupt the
    temp file is deleted, ``output_path`` is left untouched and the input is never written.
    """
    options = options or RunOptions()
    log = log or (lambda msg: print(msg, file=sys.stderr))
    input_path, output_path = Path(input_path), Path(output_path)
    info = info or probe(input_path)
    video = info.video
    started = time.perf_counter()

    # With a trimmed start the output's timestamps start at 0; otherwise they are the input's.
    trimmed = options.start is not None and options.start.value > 0
    timeline = _Timeline(video.time_base, trimmed)
    store = None
    skip_before = 0
    if options.resume:
        store = SegmentStore(output_path, _fingerprint(info, plan, options, model_key or {}), options.segment_frames)
        skip_before = store.frames_done
        if skip_before:
            log(f"resuming: {len(store.done)} finished segment(s), {skip_before} frames, in {store.dir}")

    if store is not None and store.complete:
        _concat_parts(store, output_path, info, options, log)
        store.remove()
        return Summary(0, time.perf_counter() - started, output_path, output_path.stat().st_size, skip_before)

    conversion = Conversion.for_stream(video.colour, video.pix_fmt, video.width, video.height)
    reader = FrameReader(input_path, conversion, options.start, options.end, options.queue_size)
    if store is None:
        out = OutputFile(output_path, copy_from=input_path, video_index=video.index, no_audio=options.no_audio,
                         video_metadata=dict(reader.stream.metadata), container_metadata=info.metadata, log=log)
        target = _DirectTarget(out, plan, timeline, trim_end=options.end is not None)
    else:
        target = _SegmentTarget(store, plan, timeline, log)
    writer = _EncodeThread(target, options.queue_size)

    bar = _progress(_expected_frames(video, options.start, options.end), options.progress, initial=skip_before)
    frames_out = 0
    try:
        detector = SceneDetector(options.scene_threshold)
        stream = restore_frames(reader, restorer, options.chunk_size, detector, skip_before)
        for frame, image in stream:
            timeline.anchor(reader.first_pts)
            writer.put(frame, image)
            frames_out += 1
            if bar is not None:
                bar.update(1)
        if frames_out == 0 and skip_before == 0:
            raise InputError(f"{input_path} has no decodable video frames"
                             + (" in the selected --start/--end range" if options.start or options.end else ""))
        writer.finish()
    except BaseException:
        writer.abort(keep_queued=store is not None)
        raise
    finally:
        reader.close()
        if bar is not None:
            bar.close()
    warnings = list(reader.warnings)
    expected, decoded = video.estimated_frames, frames_out + skip_before
    if expected and decoded < expected - 1 and options.start is None and options.end is None:
        warnings.append(f"input looks damaged or truncated: restored the {decoded} frames that decoded, "
                        f"the header announces about {expected}")
    for warning in warnings:
        log(f"warning: {warning}")

    if store is not None:
        _concat_parts(store, output_path, info, options, log)
        store.remove()
    return Summary(frames_out + skip_before, time.perf_counter() - started, output_path,
                   output_path.stat().st_size, skip_before, warnings)


def _expected_frames(video, start: Position | None, end: Position | None) -> int | None:
    """Frames the span should hold (for the progress bar; an estimate for seconds and VFR)."""
    n, fps = video.estimated_frames, float(video.average_rate or 0)
    index = lambda p: int(p.value) if p.frames else round(p.value * fps)  # noqa: E731
    lo = index(start) if start is not None else 0
    hi = index(end) if end is not None else n
    if n:
        hi = min(hi, n)
    return max(0, hi - lo) or None


def _progress(total: int | None, enabled: bool, initial: int = 0):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="frame", dynamic_ncols=True, file=sys.stderr,
                desc="restoring", smoothing=0.1)
