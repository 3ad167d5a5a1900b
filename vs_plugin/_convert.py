"""Format conversion between the user's clip and the model's planar float RGB.

The model works on RGBS (or RGBH when the clip's samples are half floats). Every
conversion is a core ``resize`` call whose colour arguments are resolved *per frame*
from that frame's props (see :mod:`._colors`): a ``std.FrameEval`` reads the props and
returns one of a few cached ``resize`` nodes, so a clip whose props change midway
(e.g. spliced sources) is still converted correctly.
"""

from __future__ import annotations

import threading
from typing import Callable

import vapoursynth as vs

from ._colors import ColorSpec, Overrides, frame_spec, resize_args

core = vs.core

#: Kernel for chroma up/downsampling (luma is never resized).
_RESIZE = "Spline36"


def working_format(clip: vs.VideoNode) -> vs.PresetVideoFormat:
    """RGBH for half-float clips, RGBS for everything else."""
    fmt = clip.format
    if fmt.sample_type == vs.FLOAT and fmt.bits_per_sample == 16:
        return vs.RGBH
    return vs.RGBS


def _resize(clip: vs.VideoNode, **kwargs) -> vs.VideoNode:
    return getattr(core.resize, _RESIZE)(clip, **kwargs)


def _per_frame(
    template: vs.VideoNode,
    prop_src: vs.VideoNode,
    build: Callable[[ColorSpec], vs.VideoNode],
    spec_of: Callable[[vs.VideoFrame], ColorSpec],
) -> vs.VideoNode:
    """``FrameEval`` that picks ``build(spec)`` for each frame's spec; nodes are built once per spec."""
    nodes: dict[ColorSpec, vs.VideoNode] = {}
    lock = threading.Lock()

    def select(n: int, f: vs.VideoFrame) -> vs.VideoNode:
        spec = spec_of(f)
        with lock:
            node = nodes.get(spec)
            if node is None:
                node = nodes[spec] = build(spec)
        return node

    return core.std.FrameEval(template, select, prop_src=prop_src)


def to_working(clip: vs.VideoNode, overrides: Overrides) -> vs.VideoNode:
    """Convert ``clip`` to planar float RGB (``working_format``), frame props preserved.

    GRAY becomes R = G = B = luma (full range).
    """
    fmt, work = clip.format, working_format(clip)
    if fmt.id == work:
        return clip

    def build(spec: ColorSpec) -> vs.VideoNode:
        if fmt.color_family == vs.GRAY:
            gray = _resize(clip, format=vs.GRAYH if work == vs.RGBH else vs.GRAYS,
                           range_in_s=spec.range, range_s="full")
            return core.std.ShufflePlanes([gray, gray, gray], [0, 0, 0], vs.RGB)
        return _resize(clip, format=work, **resize_args(spec, side="in"), range_s="full")

    def spec_of(f: vs.VideoFrame) -> ColorSpec:
        return frame_spec(f.props, clip, overrides)

    template = core.std.BlankClip(clip, format=work, keep=True)
    return _per_frame(template, clip, build, spec_of)


def from_working(rgb: vs.VideoNode, like: vs.VideoNode, overrides: Overrides) -> vs.VideoNode:
    """Convert working-format ``rgb`` back to ``like``'s format, with ``like``'s frame props.

    Colour arguments come from ``like``'s frame props (the original clip), so the round
    trip uses the same matrix/range both ways. GRAY takes the luma of the restored RGB.
    """
    fmt = like.format
    if fmt.id != rgb.format.id:

        def build(spec: ColorSpec) -> vs.VideoNode:
            if fmt.color_family == vs.GRAY:
                args = {**resize_args(spec, side="out"), "range_s": "full"}
                yuv = _resize(rgb, format=vs.YUV444PS, **args)
                luma = core.std.ShufflePlanes(yuv, 0, vs.GRAY)
                return _resize(luma, format=fmt.id, range_in_s="full", range_s=spec.range)
            args = resize_args(spec, side="out")
            return _resize(rgb, format=fmt.id, range_in_s="full", **args)

        def spec_of(f: vs.VideoFrame) -> ColorSpec:
            return frame_spec(f.props, like, overrides)

        template = core.std.BlankClip(like, keep=True)
        converted = _per_frame(template, like, build, spec_of)
    else:
        converted = rgb
    return core.std.CopyFrameProps(converted, like)
