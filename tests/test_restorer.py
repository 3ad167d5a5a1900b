"""The Restorer API: sizes, tiling, determinism, weights round trip, clear errors."""

import pytest
import torch
import torch.nn.functional as F

from vidrestore import Restorer
from vidrestore.errors import ConfigError, InputError, WeightsError
from vidrestore.config import LATENT_CH
from vidrestore.tiling import HANDOFF_EPS, HANDOFF_MIN_OVERLAP, Accumulator, WindowStream, dihedral, handoff, ramp, spans, tiled

from tests.test_models import activate


def make_restorer(overrides: list[str] | None = None, **kw):
    torch.manual_seed(0)
    kw.setdefault("precision", "fp32")  # the same numbers on every CPU (auto picks bf16 where the CPU has it)
    r = Restorer.from_config("tiny", overrides, device="cpu", steps=2, **kw)
    activate(r.chain)
    return r


def textured(T=2, H=64, W=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.avg_pool2d(torch.rand(T, 3, H, W, generator=g), 5, 1, 2)


@pytest.mark.parametrize("shape", [(1, 3, 33, 47), (3, 3, 1, 1), (2, 3, 32, 64), (4, 3, 17, 70)])
def test_restore_keeps_shape_and_range(shape):
    r = make_restorer(window=3, window_overlap=1)
    out = r.restore(torch.rand(shape))
    assert out.shape == shape and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 1


def test_identity_model_tiles_exactly():
    x = torch.rand(3, 3, 96, 160)
    noise = torch.zeros(1, 64, 3, 5)
    assert torch.equal(tiled(lambda f, n: f, x, noise, tile=64, overlap=32), x)


def windowed_at_once(fn, frames, window, overlap):
    """Temporal windowing of a whole clip in memory (one canvas over all spans): the reference for WindowStream."""
    T = frames.shape[0]
    acc = Accumulator(frames.shape)
    for t0, t1 in spans(T, window, overlap):
        acc.add(fn(frames[t0:t1]), slice(t0, t1), slice(None), slice(None), handoff(t1 - t0, t0, t1, T, overlap).view(-1, 1, 1, 1))
    return acc.canvas


def test_handoff_weights():
    e = torch.tensor(HANDOFF_EPS).item()  # as float32 holds it
    assert handoff(16, 0, 16, 40, 4).tolist() == [1.0] * 14 + [e, e]  # the first window: hands off its end
    assert handoff(16, 12, 28, 40, 4).tolist() == [e, e] + [1.0] * 12 + [e, e]
    assert handoff(16, 24, 40, 40, 4).tolist() == [e, e] + [1.0] * 14  # the last: the clip's end is no seam
    assert handoff(7, 3, 10, 23, 5).tolist() == [e, e] + [1.0] * 2 + [e, e, e]  # odd: the middle frame goes to the later window
    assert torch.equal(handoff(12, 10, 22, 40, 2), ramp(12, 10, 22, 40, 2))  # short overlaps stay feathered
    assert handoff(5, 0, 5, 5, 4).tolist() == [1.0] * 5 and handoff(7, 2, 9, 20, 0).tolist() == [1.0] * 7


@pytest.mark.parametrize("T,window,overlap", [(40, 16, 4), (40, 12, 2), (30, 16, 4), (23, 8, 5), (9, 5, 4), (17, 4, 1)])
def test_window_seams_hand_off(T, window, overlap):
    """Every frame gets weight 1 from some window, and no frame at a window's inner edge (no neighbours on
    one side inside its window) is what ships when another window holds that frame deeper inside."""
    windows = spans(T, window, overlap)
    total = torch.zeros(T)
    for t0, t1 in windows:
        total[t0:t1] += handoff(t1 - t0, t0, t1, T, overlap)
    assert (total >= 1).all()
    for (a0, a1), (b0, b1) in zip(windows, windows[1:]):
        if overlap >= HANDOFF_MIN_OVERLAP:  # the last frame of a window and the first of the next go to the other
            assert handoff(a1 - a0, a0, a1, T, overlap)[-1] == HANDOFF_EPS
            assert handoff(b1 - b0, b0, b1, T, overlap)[0] == HANDOFF_EPS


def run_stream(stream, frames):
    outs, held = [], 0
    for f in frames:
        outs += stream.push(f)
        held = max(held, len(getattr(stream, "windows", stream).inputs))
    return outs + stream.close(), held


@pytest.mark.parametrize("window,overlap", [(1, 0), (4, 0), (4, 1), (5, 2), (6, 3)])
def test_window_stream_equals_the_whole_clip_windowed(window, overlap):
    """Pushed frame by frame, the windows, feathering and outputs are those of the clip at once, bit for
    bit, holding at most window + step frames; skipped positions run no window of their own."""
    def fn(x):  # depends on the whole window's content and on each frame's place in it
        return x * (1 + x.mean()) + torch.arange(x.shape[0]).view(-1, 1, 1, 1) / 7

    for T in (1, 4, 5, 6, 11, 17):
        x = torch.rand(T, 2, 3, 4)
        calls = []
        outs, held = run_stream(WindowStream(fn, window, overlap, on_window=lambda a, b: calls.append((a, b))), x)
        assert torch.equal(torch.stack(outs), windowed_at_once(fn, x, window, overlap)), (T, window, overlap)
        assert calls == spans(T, window, overlap)
        assert held <= window + (window - overlap)
        for skip in (3, T):
            calls = []
            part, _ = run_stream(WindowStream(fn, window, overlap, skip, on_window=lambda a, b: calls.append((a, b))), x)
            assert [o is None for o in part] == [t < skip for t in range(T)]
            assert all(torch.equal(part[t], outs[t]) for t in range(skip, T))
            assert all(t1 > skip for _, t1 in calls)


def test_stream_restores_like_restore():
    r = make_restorer(window=3, window_overlap=1)
    x = textured(7, 40, 50)
    whole = r.restore(x)
    outs, _ = run_stream(r.stream(skip_before=2), x)
    assert outs[:2] == [None, None] and torch.equal(torch.stack(outs[2:]), whole[2:])
    s = r.stream()
    s.push(x[0])
    with pytest.raises(InputError, match="size changed"):
        s.push(x[1][:, :20])
    with pytest.raises(InputError, match="frame shaped"):
        r.stream().push(x)


def test_real_model_has_no_seams():
    r = make_restorer(tile=128, tile_overlap=64, window=2, window_overlap=0)
    x = textured(2, 256, 320)
    tiled_out = r.restore(x)
    r.tile = 1024
    whole = r.restore(x)
    diff = (tiled_out - whole).abs().mean((0, 1))  # (H, W)
    border = torch.zeros_like(diff, dtype=torch.bool)
    for size, axis in ((256, 0), (320, 1)):
        cuts = [s for s, _ in spans(size, 128, 64)][1:] + [e for _, e in spans(size, 128, 64)][:-1]
        for c in cuts:
            if axis == 0:
                border[max(0, c - 2):c + 2] = True
            else:
                border[:, max(0, c - 2):c + 2] = True
    assert diff[border].mean() <= diff[~border].mean() * 1.05 + 1e-4


def test_same_seed_same_output_other_seed_differs():
    x = textured(2, 64, 64)
    a = make_restorer(seed=3).restore(x)
    b = make_restorer(seed=3).restore(x)
    c = make_restorer(seed=4).restore(x)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_calls_are_independent():
    r = make_restorer()
    a, b = textured(2, 64, 64, seed=1), textured(2, 64, 64, seed=2)
    first = r.restore(b)
    r.restore(a)
    assert torch.equal(r.restore(b), first)


def test_noise_is_shared_by_all_frames():
    r = make_restorer(window=4)
    still = textured(1, 64, 64).repeat(4, 1, 1, 1)
    out = r.restore(still)
    assert (out - out[:1]).abs().max() < 1e-5  # a static clip gives a static result: no flicker


def test_save_load_round_trip(tmp_path):
    r = make_restorer()
    path = tmp_path / "m.safetensors"
    r.save(path)
    x = textured(2, 64, 96)
    with pytest.raises(WeightsError, match="untrained"):
        Restorer.from_pretrained(path)
    loaded = Restorer.from_pretrained(path, allow_untrained=True, device="cpu", steps=2, precision="fp32")
    assert torch.equal(loaded.restore(x), r.restore(x))


def test_weights_errors_are_clear(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        Restorer.from_pretrained(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not weights at all")
    with pytest.raises(WeightsError, match="not a valid"):
        Restorer.from_pretrained(bad)
    with pytest.raises(WeightsError, match="unknown model"):
        Restorer.from_pretrained("no-such-model")


def test_bad_runtime_options():
    with pytest.raises(ConfigError, match="tile"):
        Restorer.from_config("tiny", device="cpu", tile=100)
    with pytest.raises(ConfigError, match="fp16"):
        Restorer.from_config("tiny", device="cpu", precision="fp16")
    with pytest.raises(ConfigError, match="ensemble"):
        Restorer.from_config("tiny", device="cpu", ensemble=3)
    with pytest.raises(InputError):
        make_restorer().restore(torch.rand(3, 64, 64))


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_is_bf16_only_on_a_cpu_with_native_bf16(monkeypatch, native):
    import vidrestore.restorer as R

    monkeypatch.setattr(R, "native_bf16_cpu", lambda: native)
    assert R.default_precision(torch.device("cpu")) == ("bf16" if native else "fp32")
    assert R.default_precision(torch.device("cuda")) == "fp32"
    for unset in (None, "auto"):
        assert Restorer.from_config("tiny", device="cpu", precision=unset).precision == ("bf16" if native else "fp32")
    assert Restorer.from_config("tiny", device="cpu", precision="fp32").precision == "fp32"
    with pytest.raises(ConfigError, match="auto or one of"):
        Restorer.from_config("tiny", device="cpu", precision="fp8")


def test_bf16_runs_on_cpu():
    r = make_restorer(precision="bf16")
    x = textured(1, 64, 64)
    out = r.restore(x)
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_dihedral_gives_the_eight_flips_and_transposes_and_undoes_them():
    x = torch.arange(12.0).view(1, 3, 4)
    seen = {tuple(dihedral(x, k).flatten().tolist()) + tuple(dihedral(x, k).shape) for k in range(8)}
    assert len(seen) == 8
    for k in range(8):
        assert torch.equal(dihedral(dihedral(x, k), k, inverse=True), x)


def test_ensemble_of_eight_is_equivariant_to_flips_and_transposes():
    x = textured(2, 64, 64, seed=5)  # multiples of 32: no padding, which would break the symmetry
    for n, symmetric in ((1, False), (8, True)):
        r = make_restorer(ensemble=n)
        # a noise map the flips leave alone: the ensemble flips the map with the frames, but a flipped clip
        # gets the same map as the clip itself (the noise is a function of seed and size only)
        r.noise = lambda h, w: torch.full((1, LATENT_CH, h, w), 0.5)
        out = r.restore(x)
        for k in (2, 5):  # up-down, transpose + left-right
            err = (dihedral(r.restore(dihedral(x, k)), k, inverse=True) - out).abs().max().item()
            assert (err < 1e-4) == symmetric, (n, k, err)
