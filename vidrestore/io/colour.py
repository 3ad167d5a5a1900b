"""Colour handling: YUV <-> float RGB with the right matrix and range, and the tags that go with it.

The model works on float RGB in [0, 1]. Decoded frames are converted with libswscale
(through PyAV's ``VideoFrame.reformat``) to 16-bit RGB (``rgb48le``) so that 10- and
12-bit sources keep their precision, and converted back the same way with the same
matrix and range before encoding. The source's colour tags (range, matrix, primaries,
transfer) are carried unchanged to the encoder: restoration never changes the colour
space, it only changes pixel values.

Untagged sources are interpreted the way players do: limited range, BT.709 for HD
(width >= 1280 or height >= 720), BT.601 otherwise. The output keeps the source's
(missing) tags, so a player's guess for the output matches its guess for the input.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np
import torch
from av.video.reformatter import Interpolation

from vidrestore.errors import InputError

# FFmpeg enum values (AVColorSpace, AVColorRange), stable across FFmpeg versions.
SPC_RGB, SPC_BT709, SPC_UNSPECIFIED, SPC_FCC, SPC_BT470BG, SPC_SMPTE170M, SPC_SMPTE240M = 0, 1, 2, 4, 5, 6, 7
SPC_YCGCO, SPC_BT2020_NCL, SPC_BT2020_CL = 8, 9, 10
RANGE_UNSPECIFIED, RANGE_LIMITED, RANGE_FULL = 0, 1, 2

# AVColorSpace -> libswscale matrix name.
_SWS_MATRIX = {
    SPC_BT709: "itu709",
    SPC_FCC: "fcc",
    SPC_BT470BG: "itu601",
    SPC_SMPTE170M: "itu601",
    SPC_SMPTE240M: "smpte240m",
    SPC_BT2020_NCL: "bt2020",
    SPC_BT2020_CL: "bt2020",
}

MATRIX_NAMES = {0: "rgb", 1: "bt709", 2: "unspecified", 4: "fcc", 5: "bt470bg", 6: "smpte170m",
                7: "smpte240m", 8: "ycgco", 9: "bt2020nc", 10: "bt2020c", 11: "smpte2085"}
RANGE_NAMES = {0: "unspecified", 1: "limited (tv)", 2: "full (pc)"}
PRIMARIES_NAMES = {1: "bt709", 2: "unspecified", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m",
                   8: "film", 9: "bt2020", 10: "smpte428", 11: "smpte431", 12: "smpte432", 22: "ebu3213"}
TRANSFER_NAMES = {1: "bt709", 2: "unspecified", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m",
                  8: "linear", 11: "iec61966-2-4", 13: "iec61966-2-1 (srgb)", 14: "bt2020-10",
                  15: "bt2020-12", 16: "smpte2084 (pq)", 18: "arib-std-b67 (hlg)"}

# Best-quality swscale flags: bicubic chroma, accurate rounding, full-resolution chroma
# interpolation. A YUV -> RGB48 -> YUV round trip is then within rounding of lossless.
SWS_FLAGS = (Interpolation.BICUBIC | Interpolation.ACCURATE_RND
             | Interpolation.FULL_CHR_H_INT | Interpolation.FULL_CHR_H_INP)


@dataclass(frozen=True)
class Colour:
    """A stream's colour description, as tagged (FFmpeg enum values; 2/0 = unspecified)."""

    matrix: int = SPC_UNSPECIFIED
    range: int = RANGE_UNSPECIFIED
    primaries: int = 2
    transfer: int = 2

    @classmethod
    def of(cls, obj) -> "Colour":
        """Read the tags of a codec context, video stream or frame."""
        matrix = getattr(obj, "colorspace", SPC_UNSPECIFIED)
        return cls(int(matrix), int(obj.color_range), int(obj.color_primaries), int(obj.color_trc))

    def describe(self) -> str:
        """Human-readable summary, e.g. ``"limited (tv), bt709/bt709/bt709"``."""
        return (f"{RANGE_NAMES.get(self.range, self.range)}, matrix {MATRIX_NAMES.get(self.matrix, self.matrix)}, "
                f"primaries {PRIMARIES_NAMES.get(self.primaries, self.primaries)}, "
                f"transfer {TRANSFER_NAMES.get(self.transfer, self.transfer)}")


@dataclass(frozen=True)
class Conversion:
    """How pixels of one stream are converted: swscale matrix name and range for YUV<->RGB."""

    matrix: str  # swscale name ("itu709", "itu601", ...)
    range: int  # RANGE_LIMITED or RANGE_FULL, never unspecified

    @classmethod
    def for_stream(cls, colour: Colour, pix_fmt: str, width: int, height: int) -> "Conversion":
        """Resolve unspecified tags the way players do (see module docstring)."""
        fmt = av.VideoFormat(pix_fmt)
        if fmt.is_rgb:
            return cls("itu709", RANGE_FULL)
        matrix = _SWS_MATRIX.get(colour.matrix)
        if matrix is None:  # unspecified, reserved, YCgCo (rare: treated as the default)
            matrix = "itu709" if (width >= 1280 or height >= 720) else "itu601"
        rng = colour.range
        if rng == RANGE_UNSPECIFIED:
            rng = RANGE_FULL if pix_fmt.startswith("yuvj") else RANGE_LIMITED
        return cls(matrix, rng)


def check_pixel_format(pix_fmt: str | None) -> av.VideoFormat:
    """Raise :class:`InputError` for pixel formats vidrestore cannot restore faithfully."""
    if not pix_fmt:
        raise InputError("cannot determine the video's pixel format: the file is damaged or truncated, "
                         "or its codec is not supported")
    try:
        fmt = av.VideoFormat(pix_fmt)
    except Exception as e:  # noqa: BLE001 - PyAV raises ValueError for unknown names
        raise InputError(f"unsupported pixel format {pix_fmt!r}") from e
    if any(c.is_alpha for c in fmt.components):
        raise InputError(f"unsupported pixel format {pix_fmt!r}: it has an alpha channel, "
                         "which restoration would drop")
    if fmt.is_bayer or fmt.has_palette or fmt.is_bit_stream:
        raise InputError(f"unsupported pixel format {pix_fmt!r} (bayer, palette and bitstream formats "
                         "are not supported)")
    if max(c.bits for c in fmt.components) > 16:
        raise InputError(f"unsupported pixel format {pix_fmt!r}: more than 16 bits per component")
    return fmt


def bit_depth(pix_fmt: str) -> int:
    """Bits per component of a pixel format (8 for yuv420p, 10 for yuv420p10le)."""
    return max(c.bits for c in av.VideoFormat(pix_fmt).components)


def frame_to_tensor(frame: av.VideoFrame, conv: Conversion) -> torch.Tensor:
    """Decoded frame -> float32 RGB tensor (3, H, W) in [0, 1], via 16-bit RGB."""
    rgb = frame.reformat(format="rgb48le", src_colorspace=conv.matrix, src_color_range=conv.range,
                         dst_color_range=RANGE_FULL, interpolation=SWS_FLAGS)
    array = rgb.to_ndarray()  # (H, W, 3) uint16
    return torch.from_numpy(array.astype(np.float32)).permute(2, 0, 1).mul_(1.0 / 65535.0)


def tensor_to_frame(image: torch.Tensor, pix_fmt: str, conv: Conversion, colour: Colour,
                    pad_to: tuple[int, int] | None = None) -> av.VideoFrame:
    """Float RGB (3, H, W) in [0, 1] -> frame in ``pix_fmt`` with the stream's colour tags.

    ``pad_to=(W, H)`` replicates the last column/row up to that size (for encoders that
    need even sizes with chroma subsampling).
    """
    array = (image.detach().to("cpu", torch.float32).clamp(0.0, 1.0) * 65535.0).round()  # never in place
    array = array.to(torch.int32).permute(1, 2, 0).numpy().astype(np.uint16)
    if pad_to is not None and pad_to != (array.shape[1], array.shape[0]):
        w, h = pad_to
        array = np.pad(array, ((0, h - array.shape[0]), (0, w - array.shape[1]), (0, 0)), mode="edge")
    rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb48le")
    rgb.color_range = RANGE_FULL
    out = rgb.reformat(format=pix_fmt, dst_colorspace=conv.matrix, src_color_range=RANGE_FULL,
                       dst_color_range=conv.range, interpolation=SWS_FLAGS)
    tag(out, colour)
    return out


def tag(frame: av.VideoFrame, colour: Colour) -> None:
    """Copy colour tags onto a frame (the encoder reads them from both frame and context)."""
    frame.colorspace = colour.matrix
    frame.color_range = colour.range
    frame.color_primaries = colour.primaries
    frame.color_trc = colour.transfer
