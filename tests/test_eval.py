"""The evaluation harness end to end on a tiny generated set, and its failure modes."""

import argparse
import json
from pathlib import Path

import av
import pytest
import torch
import torch.nn.functional as F

from vidrestore.commands import eval as eval_cmd
from vidrestore.errors import InputError, VidrestoreError
from vidrestore.evaluation import peers
from vidrestore.evaluation.harness import EvalConfig, MethodError, evaluate

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "model" / "tiny.yaml"


def write_png(path: Path, seed: int, size: int = 48) -> None:
    """A smooth random texture photo (size x size RGB PNG)."""
    g = torch.Generator().manual_seed(seed)
    x = F.interpolate(torch.rand(1, 3, size // 6, size // 6, generator=g), size=(size, size), mode="bicubic")[0]
    x = ((x - x.min()) / (x.max() - x.min()) * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
    with av.open(str(path), "w") as c:
        s = c.add_stream("png")
        s.width = s.height = size
        s.pix_fmt = "rgb24"
        for p in s.encode(av.VideoFrame.from_ndarray(x, format="rgb24")):
            c.mux(p)
        for p in s.encode():
            c.mux(p)


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):  # two evaluated, the third is the tuning source
        write_png(folder / f"tex{i}.png", seed=i)
    return folder


def fake_degrade(clip, name, seed):
    """Fast, synth-independent AWGN σ=25 for tests of the harness itself."""
    g = torch.Generator().manual_seed(seed)
    return (clip + 25 / 255 * torch.randn(clip.shape, generator=g)).clamp(0, 1)


def parse(argv):
    p = argparse.ArgumentParser()
    eval_cmd.add_arguments(p)
    return p.parse_args(argv)


def test_eval_end_to_end_writes_table_plots_and_cache(photos, tmp_path, capsys):
    pytest.importorskip("vidrestore.synth.degradations")
    out = tmp_path / "out"
    methods = "input,atadenoise,deblock" + (",model" if TINY.is_file() else "")
    argv = [str(photos), "--out", str(out), "--frames", "4", "--size", "32x32", "--max-clips", "2",
            "--degradations", "awgn25", "--methods", methods, "--quiet"]
    if TINY.is_file():
        argv += ["--model-config", str(TINY), "--steps", "1"]
    assert eval_cmd.main(parse(argv)) == 0
    report = (out / "report.md").read_text()
    for name in methods.split(","):
        assert f"| awgn25 | {name} |" in report
    assert "tex2.png" in report  # tuned on the source that is not evaluated
    per_clip = report.split("## PSNR per clip (dB)")[1]
    assert "| awgn25 | tex0 |" in per_clip and "| awgn25 | tex1 |" in per_clip
    results = json.loads((out / "results.json").read_text())
    assert {r["clip"] for r in results["records"]} == {"tex0", "tex1"}
    assert all(len(r["psnr"]) == 4 and len(r["warp"]) == 3 for r in results["records"])
    tuned = json.loads((out / "tuning.json").read_text())
    assert "atadenoise/awgn25" in tuned and "deblock/awgn25" in tuned
    if pytest.importorskip("matplotlib"):
        assert (out / "per_frame_psnr.png").stat().st_size > 0 and (out / "quality_vs_fps.png").is_file()
    # the input's PSNR is what AWGN σ=25 gives (about 20.2 dB, a little more after clamping)
    inp = [v for r in results["records"] if r["method"] == "input" for v in r["psnr"]]
    assert 19.5 < sum(inp) / len(inp) < 21.5
    assert "| awgn25 | input |" in capsys.readouterr().out


def test_eval_on_a_video_with_fake_degradation(tmp_path):
    from vidrestore.evaluation.bench import write_video

    video = write_video(tmp_path / "clip.mp4", frames=5, h=40, w=56)
    cfg = EvalConfig(sources=[str(video)], degradations=["noise"], frames=3, size=(32, 48), tune=False,
                     tof=False, progress=False)
    results = evaluate(cfg, [peers.InputMethod(), peers.build_method("atadenoise")], degrade=fake_degrade)
    assert [r.method for r in results.records] == ["input", "atadenoise"]
    assert results.records[0].tof is None and len(results.records[0].ssim) == 3


class DropsAFrame(peers.Method):
    name = "dropper"

    def __call__(self, clip, info):
        return clip[:-1]


class WrongSize(peers.Method):
    name = "cropper"

    def __call__(self, clip, info):
        return clip[..., 1:, :]


@pytest.mark.parametrize("method, words", [(DropsAFrame(), ["dropper", "3 frames", "expected 4"]),
                                           (WrongSize(), ["cropper", "3x31x32", "3x32x32"])])
def test_a_method_with_wrong_output_fails_loudly_naming_it(photos, method, words):
    pytest.importorskip("vidrestore.synth.motion")
    cfg = EvalConfig(sources=[str(photos)], degradations=["noise"], frames=4, size=(32, 32), max_clips=1,
                     tune=False, progress=False)
    with pytest.raises(MethodError) as err:
        evaluate(cfg, [peers.InputMethod(), method], degrade=fake_degrade)
    assert isinstance(err.value, VidrestoreError)
    for w in words:
        assert w in str(err.value)


def test_user_mistakes_are_input_errors(photos, tmp_path):
    with pytest.raises(InputError, match="unknown method"):
        eval_cmd.main(parse([str(photos), "--out", str(tmp_path), "--methods", "input,nosuch", "--quiet"]))
    with pytest.raises(InputError, match="needs --model"):
        eval_cmd.main(parse([str(photos), "--out", str(tmp_path), "--methods", "model", "--quiet"]))
    with pytest.raises(InputError, match="no such file"):
        eval_cmd.main(parse([str(tmp_path / "missing"), "--out", str(tmp_path), "--quiet"]))
    with pytest.raises(InputError, match="WIDTHxHEIGHT"):
        eval_cmd.main(parse([str(photos), "--out", str(tmp_path), "--size", "big", "--quiet"]))


def test_tuning_picks_the_best_candidate_and_caches_it(tmp_path):
    from vidrestore.evaluation.data import ClipInfo, EvalClip
    from vidrestore.evaluation.tuning import TuneCache, tune

    class Gain(peers.Method):
        """Multiplies by k: the best k for a clip that is the clean one halved is 2."""

        name = "gain"
        defaults = {"k": 1.0}
        calls = 0

        def grid(self, info):
            return [{"k": k} for k in (0.5, 1.0, 2.0, 3.0)]

        def __call__(self, clip, info):
            Gain.calls += 1
            return (clip * self.params["k"]).clamp(0, 1)

    clean = torch.rand(2, 3, 16, 16) * 0.9
    clip = EvalClip(clean=clean, degraded=clean / 2, info=ClipInfo("c", "half", None))
    cache = TuneCache(tmp_path / "tune.json")
    assert tune(Gain(), clip, cache) == {"k": 2.0} and Gain.calls == 4
    again = Gain()
    assert tune(again, clip, TuneCache(tmp_path / "tune.json")) == {"k": 2.0} and Gain.calls == 4  # cached
    assert again.params == {"k": 2.0}
