"""Tests for the VapourSynth filter ``vsvidrestore`` (source dir ``vs_plugin/``).

Clips are tiny (64x48, <= 12 frames) and the model is the tiny chain with random
weights, 1 sampling step and 3-frame windows, so every test takes a few seconds on a CPU.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

vs = pytest.importorskip("vapoursynth")

try:  # installed: setuptools maps the package vsvidrestore to vs_plugin/
    import vsvidrestore
except ImportError:  # source checkout without `pip install -e .`
    vsvidrestore = importlib.import_module("vs_plugin")
    sys.modules["vsvidrestore"] = vsvidrestore

from vs_plugin._scenes import detect_scene_changes  # noqa: E402
from vs_plugin._windows import BlockPlan, default_chunk  # noqa: E402

core = vs.core
REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "model" / "tiny.yaml"
RUNTIME = dict(tile=64, tile_overlap=0, window=3, window_overlap=1, steps=1, seed=0)
W, H, N = 64, 48, 12


# --- helpers -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def restorer():
    """One real tiny Restorer (random init) shared by the module: it is only read from."""
    from tests.test_models import activate
    from vidrestore.restorer import Restorer

    r = Restorer.from_config(str(TINY), **RUNTIME)
    activate(r.chain)  # zero-initialised layers get values: a fresh chain is exactly the identity
    return r


def textured(fmt: int, length: int = N, seed: int = 0, width: int = W, height: int = H) -> vs.VideoNode:
    """A clip whose frame n is smooth noise from ``seed + n``, filled from numpy."""
    blank = core.std.BlankClip(width=width, height=height, format=fmt, length=length, fpsnum=25, fpsden=1)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        rng = np.random.default_rng(seed + n)
        fmt = out.format
        for p in range(fmt.num_planes):
            plane = np.asarray(out[p])
            base = rng.random((plane.shape[0] // 4 + 1, plane.shape[1] // 4 + 1))
            smooth = np.kron(base, np.ones((4, 4)))[: plane.shape[0], : plane.shape[1]]
            value = 0.2 + 0.6 * smooth  # stays in gamut after YUV -> RGB
            if fmt.color_family == vs.YUV and p > 0:
                value = 0.5 + 0.1 * (smooth - 0.5)
            if fmt.sample_type == vs.INTEGER:
                value = value * ((1 << fmt.bits_per_sample) - 1)
            plane[:] = value
        out.props["TestIndex"] = n
        return out

    return core.std.ModifyFrame(blank, blank, fill)


def frame_bytes(clip: vs.VideoNode, n: int) -> bytes:
    f = clip.get_frame(n)
    return b"".join(np.asarray(f[p]).tobytes() for p in range(f.format.num_planes))


def planes(clip: vs.VideoNode, n: int) -> list[np.ndarray]:
    f = clip.get_frame(n)
    return [np.array(f[p], dtype=np.float64) for p in range(f.format.num_planes)]


class CountingIdentity:
    """Fake Restorer: returns its input, records how many frames it was fed per call."""

    def __init__(self, window: int = 3, context: int = 2) -> None:
        self.window, self.context = window, context
        self.calls: list[int] = []
        self._lock = threading.Lock()

    def restore(self, frames):
        with self._lock:
            self.calls.append(int(frames.shape[0]))
        return frames.clone()


# --- windowing (pure) ----------------------------------------------------------------------------


def test_block_plan_clamps_at_ends_and_cuts():
    plan = BlockPlan(num_frames=10, chunk=4, context=2)
    assert [plan.block(k) for k in range(plan.num_blocks)][-1].stop == 10
    (call,) = plan.calls(0)
    assert call.indices == (0, 1, 2, 3, 4, 5) and call.keep_offset == 0  # no frame made up before the clip
    left, right = plan.calls(1, cuts={6})  # block 4..7, cut between 5 and 6
    assert left.indices == (2, 3, 4, 5) and (left.out.start, left.out.stop, left.keep_offset) == (4, 6, 2)
    assert right.indices == (6, 7, 8, 9) and (right.out.start, right.out.stop, right.keep_offset) == (6, 8, 0)
    (last,) = plan.calls(2)  # block 8..9
    assert last.indices == (6, 7, 8, 9) and last.keep_offset == 2
    assert default_chunk(window=5, context=4) % 5 == 0 and default_chunk(5, 4) >= 16


# --- formats -------------------------------------------------------------------------------------

FORMATS = ["RGB24", "RGBS", "RGBH", "YUV420P8", "YUV420P10", "GRAY16"]


@pytest.mark.parametrize("name", FORMATS)
def test_format_round_trip(restorer, name):
    fmt = getattr(vs, name)
    src = textured(fmt, length=6)
    if name.startswith("YUV"):
        src = core.std.SetFrameProps(src, _Matrix=1, _Transfer=1, _Primaries=1)
    out = vsvidrestore.restore(src, model=restorer)
    assert (out.format.id, out.width, out.height, out.num_frames) == (src.format.id, W, H, 6)
    assert (out.fps_num, out.fps_den) == (src.fps_num, src.fps_den)
    for n in (0, 5):
        assert dict(out.get_frame(n).props) == dict(src.get_frame(n).props)
        values = np.concatenate([p.ravel() for p in planes(out, n)])
        assert np.isfinite(values).all()
    assert frame_bytes(out, 2) != frame_bytes(src, 2)  # the model did something


@pytest.mark.parametrize("name", ["YUV420P8", "YUV420P10", "GRAY16", "RGB24", "RGBH"])
def test_identity_model_round_trips_colours(name):
    """With an identity model the conversions alone must give back the source (within rounding)."""
    fmt = getattr(vs, name)
    src = textured(fmt, length=4)
    if name.startswith("YUV"):
        src = core.std.SetFrameProps(src, _Matrix=6)
    out = vsvidrestore.restore(src, model=CountingIdentity())
    # one 8-bit code value; chroma also goes through 4:2:0 -> 4:4:4 -> 4:2:0 resampling
    one = 1e-3 if src.format.sample_type == vs.FLOAT else 1 << (src.format.bits_per_sample - 8)
    for p, (a, b) in enumerate(zip(planes(out, 1), planes(src, 1))):
        tol = one * (4 if p and src.format.color_family == vs.YUV else 1)
        assert np.abs(a - b).max() <= tol, p


# --- temporal behaviour --------------------------------------------------------------------------


class CountingProxy:
    """Wraps a real Restorer and counts its ``restore`` calls."""

    def __init__(self, restorer) -> None:
        self.inner, self.window, self.context, self.calls = restorer, restorer.window, restorer.context, 0

    def restore(self, frames):
        self.calls += 1
        return self.inner.restore(frames)


def test_frames_are_deterministic_and_order_independent(restorer):
    src = textured(vs.YUV420P8)
    counted = CountingProxy(restorer)
    a = vsvidrestore.restore(src, model=counted, chunk=2)  # 6 blocks, 3 cached at most
    b = vsvidrestore.restore(src, model=restorer, chunk=2, num_streams=min(2, core.num_threads))
    first = {n: frame_bytes(a, n) for n in (7, 3, 5)}
    second = {n: frame_bytes(b, n) for n in (3, 5, 7)}
    assert first == second
    assert counted.calls == 3
    # frames 2 and 3 share a block, evicted by 0, 8, 11 and recomputed for 2 (VS caches frame 3 itself)
    again = {n: frame_bytes(a, n) for n in (0, 8, 11, 2)}
    assert counted.calls == 7
    assert again == {n: frame_bytes(b, n) for n in (0, 8, 11, 2)}


def test_edge_frames(restorer):
    src = textured(vs.RGBS, length=7)
    out = vsvidrestore.restore(src, model=restorer)
    for n in (0, 6):
        assert len(frame_bytes(out, n)) == 3 * W * H * 4


def test_model_runs_about_once_per_frame_under_threads():
    """Frames requested by several threads in scrambled order: each block runs once."""
    fake = CountingIdentity(window=3, context=1)
    out = vsvidrestore.restore(textured(vs.YUV420P8, length=12), model=fake, chunk=4)
    futures = [out.get_frame_async(n) for n in (11, 0, 5, 6, 1, 10, 2, 9, 3, 8, 4, 7)]
    for f in futures:
        f.result()
    assert sorted(fake.calls) == [5, 5, 6]  # 3 blocks of 4 frames + 1 context frame each side within the clip
    assert sum(fake.calls) / 12 == 16 / 12


def _with_cut(src: vs.VideoNode, at: int, prop: str = "prev") -> vs.VideoNode:
    """Flag a cut between frames ``at - 1`` and ``at``."""
    if prop == "prev":
        marked = core.std.SetFrameProps(src[at], _SceneChangePrev=1)
        return src[:at] + marked + src[at + 1:]
    marked = core.std.SetFrameProps(src[at - 1], _SceneChangeNext=1)
    return src[: at - 1] + marked + src[at:]


@pytest.mark.parametrize("prop", ["prev", "next"])
def test_frames_next_to_a_cut_ignore_the_other_scene(restorer, prop):
    scene_a, scene_b, scene_c = (textured(vs.YUV420P8, length=N, seed=s) for s in (0, 100, 200))
    one = _with_cut(scene_a[:6] + scene_b[6:], 6, prop)
    two = _with_cut(scene_a[:6] + scene_c[6:], 6, prop)  # different frames after the cut
    out_one = vsvidrestore.restore(one, model=restorer, chunk=4)
    out_two = vsvidrestore.restore(two, model=restorer, chunk=4)
    for n in range(6):
        assert frame_bytes(out_one, n) == frame_bytes(out_two, n), n
    assert frame_bytes(out_one, 6) != frame_bytes(out_two, 6)


def test_cut_on_a_block_boundary_equals_restoring_the_segments_alone(restorer):
    src = _with_cut(textured(vs.RGBS, length=8, seed=7), 4)
    whole = vsvidrestore.restore(src, model=restorer, chunk=4)
    head = vsvidrestore.restore(src[:4], model=restorer, chunk=4)
    tail = vsvidrestore.restore(src[4:], model=restorer, chunk=4)
    for n in range(4):
        assert frame_bytes(whole, n) == frame_bytes(head, n)
        assert frame_bytes(whole, 4 + n) == frame_bytes(tail, n)


def test_scene_detect_finds_hard_cuts():
    dark = core.std.BlankClip(width=W, height=H, format=vs.YUV420P8, length=6, color=[40, 128, 128])
    bright = core.std.BlankClip(width=W, height=H, format=vs.YUV420P8, length=6, color=[200, 128, 128])
    marked = detect_scene_changes(dark + bright, threshold=0.1)
    props = [marked.get_frame(n).props for n in range(12)]
    assert [n for n in range(12) if props[n].get("_SceneChangePrev")] == [6]
    assert [n for n in range(12) if props[n].get("_SceneChangeNext")] == [5]
    fake = CountingIdentity(window=3, context=1)
    vsvidrestore.restore(dark + bright, model=fake, chunk=12, scene_detect=True).get_frame(0)
    assert fake.calls == [6, 6]  # two pieces of 6 frames, each restored alone (no frame across the cut)


# --- errors --------------------------------------------------------------------------------------


def _bad_calls(restorer):
    ok = textured(vs.YUV420P8, length=3)
    varformat = core.std.Splice([ok, textured(vs.RGB24, length=3)], mismatch=True)
    varsize = core.std.Splice([ok, textured(vs.YUV420P8, length=3, width=32)], mismatch=True)
    return {
        "not a clip": lambda: vsvidrestore.restore("clip.mp4", model=restorer),
        "variable format": lambda: vsvidrestore.restore(varformat, model=restorer),
        "variable size": lambda: vsvidrestore.restore(varsize, model=restorer),
        "missing model": lambda: vsvidrestore.restore(ok, model="/nonexistent/weights.safetensors", device="cpu"),
        "unknown model": lambda: vsvidrestore.restore(ok, model="no-such-model", device="cpu"),
        "bad model type": lambda: vsvidrestore.restore(ok, model=42),
        "no such gpu": lambda: vsvidrestore.restore(ok, model="/x.safetensors", device="cuda:99"),
        "bad device": lambda: vsvidrestore.restore(ok, model="/x.safetensors", device="tpu"),
        "bad precision": lambda: vsvidrestore.restore(ok, model="/x.safetensors", device="cpu", precision="fp8"),
        "options on instance": lambda: vsvidrestore.restore(ok, model=restorer, tile=128),
        "bad ensemble": lambda: vsvidrestore.restore(ok, model="default", device="cpu", ensemble=3),
        "bad refine": lambda: vsvidrestore.restore(ok, model="default", device="cpu", refine=-1.0),
        "bad temporal mean": lambda: vsvidrestore.restore(ok, model="default", device="cpu", temporal_mean=2.0),
        "zero streams": lambda: vsvidrestore.restore(ok, model=restorer, num_streams=0),
        "too many streams": lambda: vsvidrestore.restore(ok, model=restorer, num_streams=core.num_threads + 1),
        "bad range": lambda: vsvidrestore.restore(ok, model=restorer, range="tv-ish"),
        "bad threshold": lambda: vsvidrestore.restore(ok, model=restorer, scene_detect=True, scene_threshold=3),
        "bad chunk": lambda: vsvidrestore.restore(ok, model=restorer, chunk=0),
    }


def test_bad_inputs_raise_vs_error_at_call_time(restorer):
    for name, call in _bad_calls(restorer).items():
        with pytest.raises(vs.Error) as info:
            call()
        assert str(info.value).startswith("vidrestore:"), (name, str(info.value))


@pytest.mark.parametrize("native", [True, False])
def test_precision_unset_is_fp16_for_half_clips_on_a_gpu_else_what_run_picks(monkeypatch, native):
    import vidrestore.restorer as R
    from vs_plugin._model import resolve_precision

    monkeypatch.setattr(R, "native_bf16_cpu", lambda: native)
    cpu_auto = "bf16" if native else "fp32"
    assert resolve_precision(None, "cpu", half_io=False) == cpu_auto
    assert resolve_precision("auto", "cpu", half_io=True) == cpu_auto  # fp16 is GPU-only
    assert resolve_precision(None, "cuda", half_io=True) == "fp16"
    assert resolve_precision(None, "cuda", half_io=False) == "fp32"
    assert resolve_precision("fp32", "cpu", half_io=False) == "fp32"
    with pytest.warns(UserWarning, match="fp16 is not usable on the CPU"):
        assert resolve_precision("fp16", "cpu", half_io=False) == cpu_auto


# --- vspipe and the PyAV source ------------------------------------------------------------------


def _vspipe_env(tmp_path: Path) -> dict[str, str]:
    """Environment in which vspipe finds this Python (config written under tmp_path)."""
    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "xdg"), PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    paths = [str(REPO), os.environ.get("PYTHONPATH")]
    if vsvidrestore.__name__ != "vsvidrestore":  # not installed: expose vs_plugin/ under its real name
        shim = tmp_path / "shim"
        shim.mkdir()
        (shim / "vsvidrestore").symlink_to(REPO / "vs_plugin", target_is_directory=True)
        paths.insert(0, str(shim))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
    subprocess.run([sys.executable, "-m", "vapoursynth", "config"], env=env, check=True, capture_output=True)
    return env


def _vspipe() -> list[str]:
    exe = shutil.which("vspipe", path=str(Path(sys.executable).parent)) or shutil.which("vspipe")
    assert exe, "vspipe not found next to the Python interpreter or on PATH (pip install vapoursynth)"
    return [exe]


def _y4m_frames(data: bytes) -> int:
    return data.count(b"FRAME\n")


SCRIPT = """
import vapoursynth as vs
import vsvidrestore
from vidrestore.restorer import Restorer

core = vs.core
r = Restorer.from_config({config!r}, **{runtime!r})
clip = core.std.BlankClip(width=64, height=48, format=vs.YUV420P8, length=9, color=[90, 120, 140])
clip = core.std.SetFrameProps(clip, _Matrix=1)
vsvidrestore.restore(clip, model=r).set_output()
"""


def test_vspipe_y4m(tmp_path):
    script = tmp_path / "test.vpy"
    script.write_text(SCRIPT.format(config=str(TINY), runtime=RUNTIME))
    result = subprocess.run(_vspipe() + ["-c", "y4m", str(script), "-"], env=_vspipe_env(tmp_path),
                            capture_output=True, timeout=240)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    header = result.stdout.split(b"\n", 1)[0].split()
    assert header[0] == b"YUV4MPEG2" and b"W64" in header and b"H48" in header and b"C420" in header
    assert _y4m_frames(result.stdout) == 9


def _write_mp4(path: Path, frames: int = 12) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.codec_context.gop_size = 5
        for i in range(frames):
            rgb = np.zeros((H, W, 3), np.uint8)
            rgb[:, : 4 * (i + 1)] = (200, 60 + 10 * i, 30)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_pyav_source_is_frame_accurate_in_any_order(tmp_path):
    path = tmp_path / "clip.mp4"
    _write_mp4(path)
    sequential = vsvidrestore.source(path)
    assert (sequential.num_frames, sequential.format.id, sequential.width) == (12, vs.YUV420P8, W)
    assert sequential.fps_num / sequential.fps_den == 25
    expected = [frame_bytes(sequential, n) for n in range(12)]
    assert len(set(expected)) == 12
    scrambled = vsvidrestore.source(path, cache_frames=2)
    for n in (9, 2, 11, 0, 6, 5, 10):
        assert frame_bytes(scrambled, n) == expected[n], n


def test_sample_script_with_vspipe(tmp_path, restorer):
    """samples/restore.vpy with its input and model given as vspipe arguments."""
    video, weights = tmp_path / "in.mp4", tmp_path / "tiny.safetensors"
    _write_mp4(video, frames=6)
    from vidrestore.restorer import Restorer

    Restorer.from_config(str(TINY)).save(weights, trained=True)  # random weights flagged usable: test only
    args = ["-a", f"input={video}", "-a", f"model={weights}", "-a", "device=cpu", "-a", "tile=128", "-a", "steps=1"]
    result = subprocess.run(_vspipe() + ["-c", "y4m"] + args + [str(REPO / "samples" / "restore.vpy"), "-"],
                            env=_vspipe_env(tmp_path), capture_output=True, timeout=240)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert _y4m_frames(result.stdout) == 6
