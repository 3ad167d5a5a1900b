"""Colour metadata: read a frame's props, fill in defaults, build ``core.resize`` arguments.

Props follow H.273 codes as VapourSynth stores them (``_Matrix``, ``_Transfer``,
``_Primaries``). Range is read from ``_Range`` (VapourSynth R74+: 1 = full,
0 = limited) or, failing that, the older ``_ColorRange`` (0 = full, 1 = limited).

Defaults when a prop is missing or "unspecified" (2):

* matrix: BT.601 (``170m``) for SD (width <= 1024 and height <= 576), else BT.709;
* range: limited for integer YUV/GRAY, full for RGB and all float formats;
* transfer/primaries: left to ``resize`` (they do not change a YUV <-> RGB round trip,
  except for the constant-luminance matrices, where the frame's props are used).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import vapoursynth as vs

UNSPECIFIED = 2
MATRIX_RGB = 0
MATRIX_709 = 1
MATRIX_170M = 6
RANGES = ("full", "limited")


@dataclass(frozen=True)
class ColorSpec:
    """How to interpret one frame's samples.

    ``matrix``/``transfer``/``primaries`` are an H.273 code (int), a ``resize``
    name (str, e.g. ``"709"``) or None (let ``resize`` decide); ``range`` is
    ``"full"`` or ``"limited"``.
    """

    matrix: int | str | None
    transfer: int | str | None
    primaries: int | str | None
    range: str


@dataclass(frozen=True)
class Overrides:
    """User-forced colour metadata; None keeps the frame's own props."""

    matrix: int | str | None = None
    transfer: int | str | None = None
    primaries: int | str | None = None
    range: str | None = None

    def validate(self) -> None:
        """Raise ``vs.Error`` for values ``resize`` could never accept."""
        for name in ("matrix", "transfer", "primaries"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, (int, str)):
                raise vs.Error(f"vidrestore: {name} must be an H.273 code (int) or a resize name (str), got {value!r}")
        if self.range is not None and self.range not in RANGES:
            raise vs.Error(f"vidrestore: range must be 'full' or 'limited', got {self.range!r}")


def default_matrix(width: int, height: int) -> int:
    """BT.601 (170m) for SD sizes, BT.709 otherwise."""
    return MATRIX_170M if width <= 1024 and height <= 576 else MATRIX_709


def default_range(fmt: vs.VideoFormat) -> str:
    """Limited for integer YUV/GRAY, full for RGB and float."""
    if fmt.sample_type == vs.INTEGER and fmt.color_family in (vs.YUV, vs.GRAY):
        return "limited"
    return "full"


def _known(props: Mapping[str, Any], key: str) -> int | None:
    value = props.get(key)
    if value is None or int(value) == UNSPECIFIED:
        return None
    return int(value)


def props_range(props: Mapping[str, Any]) -> str | None:
    """The frame's range from ``_Range`` (new) or ``_ColorRange`` (old), or None."""
    if "_Range" in props:
        return "full" if int(props["_Range"]) == 1 else "limited"
    if "_ColorRange" in props:
        return "full" if int(props["_ColorRange"]) == 0 else "limited"
    return None


def frame_spec(props: Mapping[str, Any], clip: vs.VideoNode, overrides: Overrides) -> ColorSpec:
    """Resolve a frame's :class:`ColorSpec`: overrides, then props, then defaults."""
    fmt = clip.format
    matrix = overrides.matrix
    if matrix is None and fmt.color_family != vs.RGB:
        matrix = _known(props, "_Matrix")
        if matrix == MATRIX_RGB:  # RGB matrix on a YUV/GRAY frame is bogus metadata
            matrix = None
        if matrix is None:
            matrix = default_matrix(clip.width, clip.height)
    transfer = overrides.transfer if overrides.transfer is not None else _known(props, "_Transfer")
    primaries = overrides.primaries if overrides.primaries is not None else _known(props, "_Primaries")
    rng = overrides.range or props_range(props) or default_range(fmt)
    return ColorSpec(matrix=matrix, transfer=transfer, primaries=primaries, range=rng)


def _arg(kwargs: dict[str, Any], name: str, value: int | str | None) -> None:
    if value is None:
        return
    kwargs[name + "_s" if isinstance(value, str) else name] = value


def resize_args(spec: ColorSpec, *, side: str) -> dict[str, Any]:
    """``resize`` keyword arguments describing ``spec`` as input (``side="in"``) or output (``"out"``).

    Transfer and primaries are given on both sides with the same value, so they never
    trigger a conversion; they only matter for constant-luminance matrices.
    """
    kwargs: dict[str, Any] = {}
    suffix = "_in" if side == "in" else ""
    _arg(kwargs, "matrix" + suffix, spec.matrix)
    for name in ("transfer", "primaries"):
        value = getattr(spec, name)
        _arg(kwargs, name + "_in", value)
        _arg(kwargs, name, value)
    kwargs["range" + suffix + "_s"] = spec.range
    return kwargs
