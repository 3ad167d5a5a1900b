"""Fixed temporal windowing: which source frames restore which output frames.

The clip is cut into *blocks* of ``chunk`` consecutive frames aligned to absolute
multiples of ``chunk`` (block ``k`` = frames ``[k*chunk, (k+1)*chunk)``). A block is
restored by one :meth:`Restorer.restore` call per scene *piece* it contains, fed with
``context`` extra frames on each side where the scene piece has them. Frames outside the
clip or across a scene cut are never fed, and none is made up in their place: repeated edge
frames would look like a still scene to the model's temporal layers and count twice in its
temporal mean (a 5-frame clip lost 0.4 of its 10.5 dB that way), so a call at a piece's end is
shorter and the Restorer treats its ends as a shot's ends, as ``vidrestore run`` does.

Everything here is pure (no VapourSynth, no torch), so a frame's output is by
construction a function of its block alone, never of the order in which frames
were requested.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """Half-open frame range ``[start, stop)``."""

    start: int
    stop: int

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __contains__(self, n: object) -> bool:
        return isinstance(n, int) and self.start <= n < self.stop

    def intersect(self, other: "Span") -> "Span":
        """The overlap of two spans (possibly empty)."""
        return Span(max(self.start, other.start), min(self.stop, other.stop))


@dataclass(frozen=True)
class ModelCall:
    """One ``Restorer.restore`` call: feed ``indices``, keep outputs ``keep`` of it.

    ``indices`` are absolute, consecutive source frame numbers (``out`` plus up to
    ``context`` frames each side, within the scene piece); ``out`` is the span of output
    frames this call produces; output ``out.start + i`` is ``result[keep_offset + i]``.
    """

    indices: tuple[int, ...]
    out: Span
    keep_offset: int


def default_chunk(window: int, context: int) -> int:
    """Frames per block: a multiple of ``window``, at least ``4 * context``.

    With that length the ``2 * context`` frames fed twice (once as the tail of a
    block, once as the head of the next) cost at most 50 % extra model work, while a
    block of 1080p frames stays around a gigabyte of float RGB.
    """
    window = max(1, int(window))
    want = max(window, 4 * max(0, int(context)))
    return window * math.ceil(want / window)


@dataclass(frozen=True)
class BlockPlan:
    """Block layout of a clip of ``num_frames`` frames.

    Args:
        num_frames: clip length (>= 1).
        chunk: output frames per block (>= 1).
        context: frames on each side that influence a frame's output (>= 0).
    """

    num_frames: int
    chunk: int
    context: int

    def __post_init__(self) -> None:
        if self.num_frames < 1 or self.chunk < 1 or self.context < 0:
            raise ValueError(f"invalid BlockPlan({self.num_frames}, {self.chunk}, {self.context})")

    @property
    def num_blocks(self) -> int:
        return math.ceil(self.num_frames / self.chunk)

    def block_of(self, n: int) -> int:
        """Index of the block that outputs frame ``n``."""
        if not 0 <= n < self.num_frames:
            raise IndexError(f"frame {n} outside clip of {self.num_frames} frames")
        return n // self.chunk

    def block(self, k: int) -> Span:
        """Output frames of block ``k``."""
        return Span(k * self.chunk, min((k + 1) * self.chunk, self.num_frames))

    def fed(self, k: int) -> Span:
        """Source frames block ``k`` may need: the block plus ``context`` each side, in the clip."""
        b = self.block(k)
        return Span(max(0, b.start - self.context), min(self.num_frames, b.stop + self.context))

    def calls(self, k: int, cuts: frozenset[int] | set[int] = frozenset()) -> list[ModelCall]:
        """The model calls that restore block ``k``.

        Args:
            k: block index.
            cuts: frame numbers ``c`` with a scene cut between ``c - 1`` and ``c``;
                only cuts inside ``fed(k)`` matter, others are ignored.

        Returns:
            One :class:`ModelCall` per scene piece overlapping the block, in order.
        """
        fed, out = self.fed(k), self.block(k)
        bounds = sorted({fed.start, fed.stop} | {c for c in cuts if fed.start < c < fed.stop})
        result = []
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            piece = Span(lo, hi)
            keep = piece.intersect(out)
            if not len(keep):
                continue
            first = max(piece.start, keep.start - self.context)
            indices = tuple(range(first, min(piece.stop, keep.stop + self.context)))
            result.append(ModelCall(indices=indices, out=keep, keep_offset=keep.start - first))
        return result
