"""`vidrestore compare`: look at two videos together (e.g. input and restored output).

* ``-o x.png`` (or .jpg): one frame, A and B side by side, with a zoomed crop of both below.
* ``-o x.mp4`` (any video extension): a split-screen (A left, B right) or side-by-side video.

Frames are paired by index; B is scaled to A's size if they differ. The video keeps A's
timestamps. Colour conversion honours each file's matrix and range.
"""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from vidrestore.errors import ConfigError, OutputError

HELP = "compare two videos: split-screen/side-by-side video, or a PNG of one frame with a zoomed crop"

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
DIVIDER = np.array([255, 255, 255], dtype=np.uint8)
OUTLINE = np.array([255, 210, 0], dtype=np.uint8)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("a", metavar="A", help="first video (left), e.g. the input")
    p.add_argument("b", metavar="B", help="second video (right), e.g. the restored output")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="side_by_side.mp4 (video) or frame.png/.jpg (one frame with a zoomed crop)")
    p.add_argument("--mode", choices=["split", "side"], default=None,
                   help="split: left half of A next to right half of B (same size as A); side: A and B "
                        "next to each other (default%(default).0s: split for videos, side for images)")
    p.add_argument("--frame", type=int, default=None, metavar="N",
                   help="frame index for image output (default%(default).0s: the middle frame)")
    p.add_argument("--crop", default=None, metavar="X,Y,W,H",
                   help="region to zoom in image output (default%(default).0s: a centred quarter-size box)")
    p.add_argument("--zoom", type=int, default=None, metavar="K",
                   help="zoom factor for the crop (default%(default).0s: as large as fits A's width)")
    p.add_argument("--crf", type=float, default=18, help="quality of the comparison video (libx264)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument("--max-frames", type=int, default=None, metavar="N",
                   help="stop after N frames of video output (default%(default).0s: all paired frames)")


def _frames(path: Path, size: tuple[int, int] | None = None) -> Iterator[tuple[av.VideoFrame, np.ndarray]]:
    """Decoded frames of the main video stream and their RGB24 pictures (scaled to ``size``)."""
    from vidrestore.io.colour import RANGE_FULL, SWS_FLAGS, Conversion
    from vidrestore.io.probe import main_video_stream, open_input, video_info

    container = open_input(path)
    try:
        stream = main_video_stream(container)
        info = video_info(stream)
        stream.thread_type = "AUTO"
        conv = Conversion.for_stream(info.colour, info.pix_fmt, info.width, info.height)
        w, h = size or (info.width, info.height)
        for frame in container.decode(stream):
            rgb = frame.reformat(width=w, height=h, format="rgb24", src_colorspace=conv.matrix,
                                 src_color_range=conv.range, dst_color_range=RANGE_FULL, interpolation=SWS_FLAGS)
            yield frame, rgb.to_ndarray()
    except av.FFmpegError as e:
        from vidrestore.errors import InputError

        raise InputError(f"cannot decode {path}: {e}") from None
    finally:
        container.close()


def compose(a: np.ndarray, b: np.ndarray, mode: str) -> np.ndarray:
    """Split-screen (same size as A) or side-by-side (A | B) picture, with a 2 px divider."""
    h, w = a.shape[:2]
    if mode == "split":
        out = a.copy()
        half = w // 2
        out[:, half:] = b[:, half:]
        out[:, max(0, half - 1):half + 1] = DIVIDER
        return out
    return np.concatenate([a, np.broadcast_to(DIVIDER, (h, 2, 3)), b], axis=1)


def parse_crop(text: str | None, width: int, height: int) -> tuple[int, int, int, int]:
    if text is None:
        w, h = max(1, width // 4), max(1, height // 4)
        return (width - w) // 2, (height - h) // 2, w, h
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"bad --crop {text!r}: use X,Y,W,H in pixels") from None
    if w < 1 or h < 1 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise ConfigError(f"--crop {text} is outside the {width}x{height} frame")
    return x, y, w, h


def zoom_panel(a: np.ndarray, b: np.ndarray, crop: tuple[int, int, int, int], zoom: int | None) -> np.ndarray:
    """The top row (A | B with the crop outlined) above the two crops enlarged (nearest neighbour)."""
    x, y, w, h = crop
    k = zoom or max(1, a.shape[1] // w)
    crops = []
    for img in (a, b):
        c = img[y:y + h, x:x + w]
        crops.append(np.repeat(np.repeat(c, k, axis=0), k, axis=1))
    marked = []
    for img in (a, b):
        img = img.copy()
        img[y, x:x + w] = img[y + h - 1, x:x + w] = OUTLINE
        img[y:y + h, x] = img[y:y + h, x + w - 1] = OUTLINE
        marked.append(img)
    top = compose(marked[0], marked[1], "side")
    bottom = compose(crops[0], crops[1], "side")
    width = max(top.shape[1], bottom.shape[1])
    pad = lambda im: np.pad(im, ((0, 0), (0, width - im.shape[1]), (0, 0)))  # noqa: E731
    return np.concatenate([pad(top), np.zeros((4, width, 3), np.uint8), pad(bottom)], axis=0)


def _save_image(picture: np.ndarray, path: Path) -> None:
    av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24").save(str(path))


def _write_video(pairs, path: Path, rate: Fraction | None, time_base: Fraction, crf: float) -> int:
    from vidrestore.io.writer import temp_path_for

    tmp = temp_path_for(path)
    count = 0
    try:
        with av.open(str(tmp), "w") as out:
            stream = None
            for frame, picture in pairs:
                if stream is None:
                    h, w = picture.shape[:2]
                    stream = out.add_stream("libx264", rate=rate or 25, options={"crf": f"{crf:g}", "preset": "medium"})
                    stream.width, stream.height, stream.pix_fmt = w + w % 2, h + h % 2, "yuv420p"
                    stream.codec_context.time_base = time_base
                    stream.codec_context.colorspace = stream.codec_context.color_primaries = 1
                    stream.codec_context.color_trc = 1
                    stream.codec_context.color_range = 1
                picture = np.pad(picture, ((0, picture.shape[0] % 2), (0, picture.shape[1] % 2), (0, 0)), mode="edge")
                yuv = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(
                    format="yuv420p", dst_colorspace="itu709", src_color_range=2, dst_color_range=1)
                yuv.pts, yuv.time_base = frame.pts if frame.pts is not None else count, time_base
                out.mux(stream.encode(yuv))
                count += 1
            if stream is None:
                raise OutputError("no frames to compare")
            out.mux(stream.encode(None))
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count


def main(args: argparse.Namespace) -> int:
    from vidrestore.io.probe import probe

    a_path, b_path, out = Path(args.a), Path(args.b), Path(args.output)
    info_a, _ = probe(a_path).video, probe(b_path)
    if out.exists() and not args.overwrite:
        raise OutputError(f"output {out} already exists (use --overwrite to replace it)")
    if not out.parent.is_dir():
        raise OutputError(f"output folder {out.parent} does not exist")
    for src in (a_path, b_path):
        if out.resolve() == src.resolve():
            raise OutputError(f"output {out} is one of the inputs")
    size = (info_a.width, info_a.height)
    pairs = zip(_frames(a_path), _frames(b_path, size))

    if out.suffix.lower() in IMAGE_SUFFIXES:
        target = args.frame if args.frame is not None else max(0, (info_a.estimated_frames or 1) // 2)
        if target < 0:
            raise ConfigError("--frame must be >= 0")
        picked = None
        for i, ((_, a), (_, b)) in enumerate(pairs):
            picked = (a, b)
            if i == target:
                break
        else:
            if args.frame is not None or picked is None:
                raise ConfigError(f"--frame {target} is past the end of the shorter video")
        a, b = picked
        crop = parse_crop(args.crop, a.shape[1], a.shape[0])
        picture = zoom_panel(a, b, crop, args.zoom) if (args.mode or "side") == "side" else compose(a, b, "split")
        _save_image(picture, out)
        print(f"wrote {out} ({picture.shape[1]}x{picture.shape[0]})", file=sys.stderr)
        return 0

    mode = args.mode or "split"
    limit = args.max_frames

    def composed():
        for i, ((fa, a), (_, b)) in enumerate(pairs):
            if limit is not None and i >= limit:
                return
            yield fa, compose(a, b, mode)

    try:
        n = _write_video(composed(), out, info_a.average_rate, info_a.time_base, args.crf)
    except (av.FFmpegError, ValueError) as e:
        raise OutputError(f"cannot write {out}: {e}") from None
    print(f"wrote {out} ({n} frames, {mode})", file=sys.stderr)
    return 0
