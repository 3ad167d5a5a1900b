"""``restore``: the VapourSynth filter around :class:`vidrestore.restorer.Restorer`."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import vapoursynth as vs

from ._cache import ComputeOnceLRU
from ._colors import Overrides
from ._convert import from_working, to_working, working_format
from ._model import ModelRunner, RuntimeOptions, load_restorer
from ._scenes import DEFAULT_THRESHOLD, cuts_in, detect_scene_changes
from ._windows import BlockPlan, default_chunk

core = vs.core


def restore(
    clip: vs.VideoNode,
    model: Any = "default",
    device: str = "auto",
    precision: str | None = None,
    tile: int | None = None,
    tile_overlap: int | None = None,
    window: int | None = None,
    steps: int | None = None,
    seed: int = 0,
    ensemble: int | None = None,
    refine: float | None = None,
    temporal_mean: float | None = None,
    num_streams: int = 1,
    scene_detect: bool = False,
    scene_threshold: float = DEFAULT_THRESHOLD,
    matrix: int | str | None = None,
    transfer: int | str | None = None,
    primaries: int | str | None = None,
    range: str | None = None,
    chunk: int | None = None,
) -> vs.VideoNode:
    """Restore ``clip`` with the vidrestore model; same format, size, length, fps and frame props out.

    Args:
        clip: constant-format, constant-size RGB, YUV (any subsampling) or GRAY clip,
            8-16 bit integer, half or single float.
        model: ``"default"`` (the shipped weights), a path to a ``.safetensors`` file, or a
            ready ``vidrestore.restorer.Restorer`` (then leave ``device`` .. ``temporal_mean`` at their
            defaults: they are fixed when the Restorer is created).
        device: ``"auto"`` (first GPU, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        precision: ``"auto"``, ``"fp32"``, ``"bf16"`` or ``"fp16"``. Unset/auto: fp16 for half-float
            clips (RGBH etc.) on a GPU, else bf16 on a CPU with native bf16 (AVX512-BF16 or AMX),
            fp32 otherwise. fp16 is not usable on the CPU and falls back to auto there.
        tile, tile_overlap: spatial tile size/overlap in pixels (multiples of 32; model default if unset).
        window: frames per temporal model window (model default if unset).
        steps: sampling steps (model default if unset).
        seed: noise seed; output is a deterministic function of input and seed.
        ensemble: 1, 2, 4 or 8: average the model over that many flips/transposes of each tile
            (a quality mode, that many times slower; model default, 1, if unset).
        refine: strength of the guided refinement of each restored frame against the noise the
            network left on flat areas (0 = off, the file's detail pass with it; the weights file's
            tuned value if unset).
        temporal_mean: strength (alpha) of the temporal mean after the refinement: each frame
            averaged with its neighbours warped onto it, where they agree within alpha x the
            noise the network removed (0 = off; the weights file's tuned value if unset).
        num_streams: model calls allowed to run at once (1 .. ``core.num_threads``); on CUDA
            each gets its own stream.
        scene_detect: also detect scene cuts (mean absolute luma difference between
            consecutive frames above ``scene_threshold``, as ``misc.SCDetect`` does);
            cuts already flagged by ``_SceneChangePrev``/``_SceneChangeNext`` are always honoured.
        scene_threshold: detection threshold in (0, 1).
        matrix, transfer, primaries: override the frames' ``_Matrix``/``_Transfer``/``_Primaries``
            (H.273 code or ``resize`` name such as ``"709"``). Unset and unspecified in the
            props, the matrix is BT.601 (``170m``) for SD (<= 1024x576) and BT.709 otherwise.
        range: ``"full"`` or ``"limited"``, overriding ``_Range``/``_ColorRange``. Default when
            unspecified: limited for integer YUV/GRAY, full for RGB and float.
        chunk: output frames per block of model work (advanced; default: a multiple of the
            model window of at least ``4 * context`` frames).

    Returns:
        The restored clip. Frame ``n`` depends only on source frames of its fixed block
        (``chunk`` frames plus ``context`` on each side, fewer at the clip's ends and at scene
        cuts), so it is bit-identical whatever order frames are requested in.

    Raises:
        vs.Error: with a message starting ``"vidrestore:"`` for unusable clips, options,
            models or devices, at call time.
    """
    _check_clip(clip)
    _check_num_streams(num_streams)
    overrides = Overrides(matrix=matrix, transfer=transfer, primaries=primaries, range=range)
    overrides.validate()
    half_io = working_format(clip) == vs.RGBH
    options = RuntimeOptions(device=device, precision=precision, tile=tile, tile_overlap=tile_overlap,
                             window=window, steps=steps, seed=seed, ensemble=ensemble, refine=refine,
                             temporal_mean=temporal_mean)
    restorer = load_restorer(model, options, half_io=half_io)
    plan = BlockPlan(clip.num_frames, _check_chunk(chunk, restorer), int(restorer.context))

    marked = detect_scene_changes(clip, scene_threshold) if scene_detect else clip
    work = to_working(marked, overrides)
    restored = TemporalRestorer(work, ModelRunner(restorer, num_streams), plan,
                                cache_blocks=max(3, num_streams + 2)).clip()
    return from_working(restored, clip, overrides)


def _check_clip(clip: Any) -> None:
    if not isinstance(clip, vs.VideoNode):
        raise vs.Error(f"vidrestore: clip must be a vs.VideoNode, got {type(clip).__name__}")
    fmt = clip.format
    if fmt is None or fmt.id == vs.PresetVideoFormat.NONE or fmt.color_family == vs.UNDEFINED:
        raise vs.Error("vidrestore: variable-format clips are not supported; convert to one format first (resize)")
    if clip.width == 0 or clip.height == 0:
        raise vs.Error("vidrestore: variable-size clips are not supported; resize to one size first")
    if fmt.color_family not in (vs.RGB, vs.YUV, vs.GRAY):
        raise vs.Error(f"vidrestore: unsupported colour family of {fmt.name}")
    if fmt.sample_type == vs.INTEGER and not 8 <= fmt.bits_per_sample <= 16:
        raise vs.Error(f"vidrestore: {fmt.name}: integer clips must be 8-16 bit")
    if fmt.sample_type == vs.FLOAT and fmt.bits_per_sample not in (16, 32):
        raise vs.Error(f"vidrestore: {fmt.name}: float clips must be half or single precision")


def _check_num_streams(num_streams: Any) -> None:
    if not isinstance(num_streams, int) or isinstance(num_streams, bool) or num_streams < 1:
        raise vs.Error(f"vidrestore: num_streams must be an integer >= 1, got {num_streams!r}")
    if num_streams > core.num_threads:
        raise vs.Error(f"vidrestore: num_streams={num_streams} exceeds core.num_threads={core.num_threads}; "
                       "extra streams would never be used (raise core.num_threads or lower num_streams)")


def _check_chunk(chunk: Any, restorer: Any) -> int:
    if chunk is None:
        return default_chunk(int(restorer.window), int(restorer.context))
    if not isinstance(chunk, int) or isinstance(chunk, bool) or chunk < 1:
        raise vs.Error(f"vidrestore: chunk must be an integer >= 1, got {chunk!r}")
    return chunk


def read_rgb(frame: vs.VideoFrame) -> np.ndarray:
    """Planar float RGB frame -> float32 (3,H,W)."""
    return np.stack([np.asarray(frame[p]) for p in range(3)]).astype(np.float32, copy=False)


def write_rgb(frame: vs.VideoFrame, rgb: np.ndarray) -> vs.VideoFrame:
    """Writable copy of ``frame`` with planes replaced by ``rgb`` (float32 (3,H,W))."""
    out = frame.copy()
    for p in range(3):
        plane = np.asarray(out[p])
        np.copyto(plane, rgb[p], casting="unsafe")
    return out


class TemporalRestorer:
    """Restores a working-format clip block by block (see :mod:`._windows`).

    Frame ``n`` is served by ``FrameEval``: if its block is cached, a tiny node writes the
    cached result; otherwise a per-block gather node requests the block's source frames
    through VapourSynth (so no filter ever blocks on ``get_frame``), and the first thread
    to arrive runs the model for the whole block while others for the same block wait.
    """

    def __init__(self, work: vs.VideoNode, runner: ModelRunner, plan: BlockPlan, cache_blocks: int) -> None:
        self.work = work
        self.runner = runner
        self.plan = plan
        self.blank = core.std.BlankClip(work, keep=True)
        self.results: ComputeOnceLRU[int, np.ndarray] = ComputeOnceLRU(cache_blocks)
        self._gathers: ComputeOnceLRU[int, vs.VideoNode] = ComputeOnceLRU(cache_blocks)

    def clip(self) -> vs.VideoNode:
        """The restored clip (working format, same length as ``work``)."""
        return core.std.FrameEval(self.blank, self._select)

    def _select(self, n: int) -> vs.VideoNode:
        k = self.plan.block_of(n)
        block = self.results.get(k)
        if block is not None:  # pin the data now: eviction can't pull it from under the node
            rgb = block[n - self.plan.block(k).start]
            return core.std.ModifyFrame(self.blank, self.blank, lambda n, f: write_rgb(f, rgb))
        return self._gathers.get_or_compute(k, functools.partial(self._gather_node, k))

    def _gather_node(self, k: int) -> vs.VideoNode:
        """Node whose frame ``n`` receives every fed source frame of block ``k``."""
        fed = self.plan.fed(k)
        held = [self.work[i] * self.work.num_frames for i in range(fed.start, fed.stop)]
        return core.std.ModifyFrame(self.blank, held, functools.partial(self._restore_frame, k=k))

    def _restore_frame(self, n: int, f: list[vs.VideoFrame], k: int) -> vs.VideoFrame:
        block = self.results.get_or_compute(k, lambda: self._restore_block(k, f))
        fed_start = self.plan.fed(k).start
        return write_rgb(f[n - fed_start], block[n - self.plan.block(k).start])

    def _restore_block(self, k: int, frames: list[vs.VideoFrame]) -> np.ndarray:
        """Run the model over block ``k``; ``frames`` are its fed source frames. -> float32 (B,3,H,W)."""
        fed, out = self.plan.fed(k), self.plan.block(k)
        cuts = cuts_in([f.props for f in frames], fed.start)
        rgb = [read_rgb(f) for f in frames]
        result = np.empty((len(out), *rgb[0].shape), dtype=np.float32)
        for call in self.plan.calls(k, cuts):
            batch = np.stack([rgb[i - fed.start] for i in call.indices])  # (T,3,H,W)
            restored = self.runner(batch)
            lo = call.out.start - out.start
            result[lo:lo + len(call.out)] = restored[call.keep_offset:call.keep_offset + len(call.out)]
        return result
