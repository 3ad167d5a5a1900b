"""`vidrestore info`: what is in a media file, as far as restoration is concerned."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from fractions import Fraction
from pathlib import Path

HELP = "show a media file's streams: codec, size, frame rate, frame count, pixel format, colour, rotation"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", metavar="INPUT", help="media file to inspect")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON instead of text")
    p.add_argument("--count", action="store_true",
                   help="count video frames by reading the whole stream (exact, slower); otherwise the "
                        "header's count is used and packets are counted only when the header has none")


def count_frames(path: Path, index: int) -> int:
    """Number of video packets (= frames for every codec vidrestore reads), without decoding."""
    from vidrestore.io.probe import open_input

    with open_input(path) as container:
        stream = container.streams[index]
        return sum(1 for packet in container.demux(stream) if packet.size)


def _fps(rate: Fraction | None) -> str:
    if not rate:
        return "unknown fps"
    return f"{float(rate):.3f}".rstrip("0").rstrip(".") + (f" ({rate.numerator}/{rate.denominator})" if rate.denominator != 1 else "") + " fps"


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def main(args: argparse.Namespace) -> int:
    from vidrestore.io.probe import probe

    path = Path(args.input)
    info = probe(path, require_video=False)
    video = info.video
    counted = False
    if video is not None and (args.count or not video.frames):
        video.frames, counted = count_frames(path, video.index), True

    if args.json:
        data = asdict(info)
        data["path"] = str(info.path)
        if video is not None:
            data["video"]["colour_description"] = video.colour.describe()
            data["video"]["frames_counted"] = counted
        print(json.dumps(data, indent=2, default=str))
        return 0

    duration = f"{info.duration:.3f} s" if info.duration else "unknown duration"
    rate = f", {info.bit_rate / 1000:.0f} kb/s" if info.bit_rate else ""
    print(f"{path}: {info.format}, {duration}, {_size(info.size)}{rate}")
    for s in info.streams:
        lang = f" [{s.language}]" if s.language and s.language != "und" else ""
        if video is not None and s.index == video.index:
            sar = video.sample_aspect_ratio
            print(f"  #{s.index} video: {video.codec}, {video.width}x{video.height}"
                  + (f" (SAR {sar.numerator}:{sar.denominator})" if sar and sar != 1 else "")
                  + f", {_fps(video.average_rate)}, {video.frames} frames"
                  + (" (counted)" if counted else "") + lang)
            print(f"      pixel format {video.pix_fmt} ({video.bit_depth}-bit), time base {video.time_base}")
            print(f"      colour: {video.colour.describe()}")
            if video.display_matrix is not None:
                print(f"      rotation: {video.rotation:g} degrees (display matrix)")
            print("      (this is the stream `vidrestore run` restores)")
        else:
            detail = f", {s.detail}" if s.detail else ""
            print(f"  #{s.index} {s.type}: {s.codec or 'unknown codec'}{detail}{lang}")
    if video is None:
        print("  no video stream: nothing to restore")
    return 0
