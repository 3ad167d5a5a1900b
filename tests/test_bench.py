"""`vidrestore bench` on a tiny size with few frames."""

import argparse
import json
from pathlib import Path

import pytest

from vidrestore.commands import bench as bench_cmd
from vidrestore.errors import InputError
from vidrestore.evaluation import bench

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "model" / "tiny.yaml"
needs_model = pytest.mark.skipif(not TINY.is_file(), reason="configs/model/tiny.yaml not there yet")


def parse(argv):
    p = argparse.ArgumentParser()
    bench_cmd.add_arguments(p)
    return p.parse_args(argv)


def test_synthetic_inputs_are_deterministic(tmp_path):
    a, b = bench.synthetic_frames(3, 24, 40), bench.synthetic_frames(3, 24, 40)
    assert a.shape == (3, 3, 24, 40) and (a == b).all() and 0 <= a.min() and a.max() <= 1
    import av

    video = bench.write_video(tmp_path / "v.mp4", frames=7, h=24, w=40)
    with av.open(str(video)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 7


def test_time_call_warms_up_on_the_requested_frames_then_times_the_batch():
    calls = []
    frames = bench.synthetic_frames(6, 8, 8)
    fps = bench.time_call(lambda x: calls.append(x.shape[0]), frames, repeats=3, warmup=6)
    assert calls == [6, 6, 6, 6] and fps > 0
    calls.clear()
    bench.time_call(lambda x: calls.append(x.shape[0]), frames, repeats=1)  # default: a 2-frame warm-up
    assert calls == [2, 6]
    calls.clear()
    bench.time_call(lambda x: calls.append(x.shape[0]), frames, repeats=2, warmup=0)
    assert calls == [6, 6]


@needs_model
def test_bench_model_and_nlmeans_tiny(tmp_path, capsys):
    out = tmp_path / "bench.md"
    args = parse(["--sizes", "64x32", "--frames", "2", "--precisions", "fp32", "--tiles", "untiled,32",
                  "--config", str(TINY), "--steps", "1", "--device", "cpu", "--no-pipeline", "--flops",
                  "--out", str(out), "--quiet"])
    assert bench_cmd.main(args) == 0
    text = out.read_text()
    assert "| 64x32 | fp32 | untiled |" in text and "| 64x32 | fp32 | tile 32 |" in text
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    untiled = next(r for r in rows if r["tile"] == "untiled")
    assert untiled["model_fps"] > 0 and untiled["nlmeans_fps"] > 0 and untiled["ratio"] > 0
    assert untiled["gflops_per_frame"] > 0
    assert "vidrestore bench" in capsys.readouterr().out


@needs_model
def test_pipeline_subprocess_reports_frames_and_peak_rss(tmp_path):
    pytest.importorskip("vidrestore.pipeline")
    video = bench.write_video(tmp_path / "in.mp4", frames=4, h=32, w=32)
    cfg = bench.BenchConfig(sizes=[], config=str(TINY), steps=1, device="cpu")
    r = bench.pipeline_run(video, cfg, "fp32", None, (32, 32))
    assert r["frames"] == 4 and r["fps"] > 0 and r["peak_rss_mb"] > 50


def test_bad_arguments_are_input_errors():
    with pytest.raises(InputError, match="multiple of 32"):
        bench_cmd.main(parse(["--tiles", "100", "--quiet"]))
    with pytest.raises(InputError, match="fp16 needs a GPU"):
        bench_cmd.main(parse(["--device", "cpu", "--precisions", "fp16", "--sizes", "64x32", "--quiet"]))
    with pytest.raises(InputError, match="WIDTHxHEIGHT"):
        bench_cmd.main(parse(["--sizes", "640", "--quiet"]))
    with pytest.raises(InputError, match="exclude each other"):
        bench_cmd.main(parse(["--model", "default", "--config", "tiny", "--quiet"]))


def test_bench_times_the_shipped_weights_unless_told(monkeypatch):
    seen = []
    monkeypatch.setattr(bench, "run_bench", lambda cfg, progress: seen.append(cfg))
    monkeypatch.setattr(bench, "markdown", lambda results: "")
    for argv, model, config in ((["--quiet"], "default", "tiny"), (["--config", "small", "--quiet"], None, "small"),
                                (["--model", "w.safetensors", "--quiet"], "w.safetensors", "tiny")):
        bench_cmd.main(parse(argv))
        assert (seen[-1].model, seen[-1].config) == (model, config)
