"""Scene cuts: reading ``_SceneChangePrev``/``_SceneChangeNext`` and an optional detector.

A cut "at c" means frames ``c - 1`` and ``c`` belong to different scenes; it is set by
``_SceneChangePrev`` on frame ``c`` or ``_SceneChangeNext`` on frame ``c - 1``.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import vapoursynth as vs

core = vs.core

#: Default threshold on the mean absolute luma difference (0..1) between consecutive frames.
DEFAULT_THRESHOLD = 0.1

#: Frames are analysed at most this wide (aspect kept), which is plenty for cut detection.
_ANALYSIS_WIDTH = 256


def cuts_in(props: Sequence[Mapping], first: int) -> set[int]:
    """Cuts between consecutive frames ``first .. first + len(props) - 1`` from their props."""
    cuts = set()
    for i in range(1, len(props)):
        if props[i].get("_SceneChangePrev", 0) or props[i - 1].get("_SceneChangeNext", 0):
            cuts.add(first + i)
    return cuts


def _analysis_luma(clip: vs.VideoNode) -> vs.VideoNode:
    """Small GRAYS proxy of luminance: plane 0 of YUV/GRAY, G of RGB."""
    plane = 1 if clip.format.color_family == vs.RGB else 0
    luma = core.std.ShufflePlanes(clip, plane, vs.GRAY)
    width = min(clip.width, _ANALYSIS_WIDTH)
    height = max(2, round(clip.height * width / clip.width) // 2 * 2)
    return core.resize.Bilinear(luma, width=width, height=height, format=vs.GRAYS, range_in_s="full", range_s="full")


def detect_scene_changes(clip: vs.VideoNode, threshold: float = DEFAULT_THRESHOLD) -> vs.VideoNode:
    """Return ``clip`` with ``_SceneChangePrev``/``_SceneChangeNext`` set where the mean absolute
    difference of (downscaled) luma between consecutive frames exceeds ``threshold``.

    Same criterion as ``misc.SCDetect``, built from core filters only so results do not
    depend on which plugins are installed. Cuts already flagged in the props are kept.
    """
    if not 0.0 < threshold < 1.0:
        raise vs.Error(f"vidrestore: scene_threshold must be in (0, 1), got {threshold}")
    luma = _analysis_luma(clip)
    if clip.num_frames < 2:
        return clip
    prev = luma[0] + luma[:-1]
    nxt = luma[1:] + luma[-1]
    stats = core.std.PlaneStats(luma, prev, prop="VRPrev")
    stats = core.std.PlaneStats(stats, nxt, prop="VRNext")

    def mark(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        out = f[0].copy()
        props = f[1].props
        if n > 0 and props["VRPrevDiff"] > threshold:
            out.props["_SceneChangePrev"] = 1
        if n < clip.num_frames - 1 and props["VRNextDiff"] > threshold:
            out.props["_SceneChangeNext"] = 1
        return out

    return core.std.ModifyFrame(clip, [clip, stats], mark)
