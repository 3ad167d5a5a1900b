"""`vidrestore run` / `info` / `compare` end to end, in-process through `vidrestore.cli.main`.

Runs that need a model use the real tiny Restorer with random weights saved as "trained"
(a TEST FIXTURE ONLY, see conftest.tiny_model_file) and small tile/window/steps for speed.
"""

import importlib.util

import av
import numpy as np
import pytest

from tests.conftest import packets_of, read_video, write_video
from vidrestore import cli

FAST = ["--tile", "64", "--tile-overlap", "0", "--window", "2", "--window-overlap", "0", "--steps", "1",
        "--no-progress"]


def vidrestore(*argv) -> int:
    """Run the CLI in-process. Sub-commands other helpers have not written yet are skipped."""
    commands = [c for c in cli.COMMANDS if importlib.util.find_spec(f"vidrestore.commands.{c}")]
    old, cli.COMMANDS = cli.COMMANDS, commands
    try:
        return cli.main([str(a) for a in argv])
    except SystemExit as e:  # argparse: --help, bad choices
        return e.code
    finally:
        cli.COMMANDS = old


def run_help() -> str:
    from vidrestore.commands import run

    import argparse

    parser = argparse.ArgumentParser(prog="vidrestore run", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    run.add_arguments(parser)
    return parser, parser.format_help()


# -- help ---------------------------------------------------------------------------------------
def test_help_documents_every_option(capsys):
    assert vidrestore("run", "--help") == 0
    text = capsys.readouterr().out
    parser, _ = run_help()
    for action in parser._actions:
        for option in action.option_strings:
            assert option in text, option
        if action.option_strings and action.help != "show this help message and exit":
            assert len(action.help) > 15, f"{action.option_strings} is not documented"
    assert "(default: None)" not in text
    for word in ["300f", "--resume", "truncated", "exit status", "libx265", "libsvtav1", "ffv1"]:
        assert word in text, word
    for sub in ("info", "compare"):
        assert vidrestore(sub, "--help") == 0


# -- success ------------------------------------------------------------------------------------
def test_run_restores_and_keeps_everything_else(tmp_path, tiny_model_file, capsys):
    src = write_video(tmp_path / "clip.mp4", frames=5, audio="aac", colour=dict(color_range=1, colorspace=1,
                                                                                 color_primaries=1, color_trc=1))
    assert vidrestore("run", src, "--model", tiny_model_file, *FAST) == 0
    out = tmp_path / "clip_restored.mp4"
    err = capsys.readouterr().err
    assert "restored 5 frames" in err and "clip_restored.mp4" in err
    a, b = read_video(src), read_video(out)
    assert len(b["frames"]) == 5 and b["times"] == a["times"] and b["colour"] == a["colour"]
    assert packets_of(out, "audio") == packets_of(src, "audio")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "clip_restored.mp4"]


def test_resume_after_crash_matches_uninterrupted_run(tmp_path, tiny_model_file, monkeypatch, capsys):
    from vidrestore.restorer import Restorer

    src = write_video(tmp_path / "clip.mkv", frames=5, audio="aac")
    common = ["--model", tiny_model_file, "--codec", "ffv1", "--batch-size", "2", "--segment-frames", "2", *FAST]
    assert vidrestore("run", src, "-o", tmp_path / "ref.mkv", *common) == 0

    real_run, calls = Restorer._run_window, []

    def crashing(self, frames, noise):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # what Ctrl-C does in the middle of a run
        return real_run(self, frames, noise)

    monkeypatch.setattr(Restorer, "_run_window", crashing)
    out = tmp_path / "out.mkv"
    assert vidrestore("run", src, "-o", out, "--resume", *common) == 130
    assert not out.exists()
    assert "run the same command again" in capsys.readouterr().err
    monkeypatch.setattr(Restorer, "_run_window", real_run)
    assert vidrestore("run", src, "-o", out, "--resume", *common) == 0
    assert "resuming" in capsys.readouterr().err
    ref, got = read_video(tmp_path / "ref.mkv"), read_video(out)
    assert got["times"] == ref["times"] and len(got["native"]) == 5
    assert all(np.array_equal(x, y) for x, y in zip(got["native"], ref["native"]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mkv", "out.mkv", "ref.mkv"]


def test_resume_refuses_parts_of_a_weights_file_that_has_changed(tmp_path, tiny_model_file, monkeypatch, capsys):
    """A shipped model by name whose file changed (`default` after an upgrade): the old parts are not mixed in."""
    import shutil

    from training import set_inference
    from vidrestore import weights_io
    from vidrestore.restorer import Restorer

    (tmp_path / "weights").mkdir()
    model = tmp_path / "weights" / "mine.safetensors"
    shutil.copy(tiny_model_file, model)
    monkeypatch.setattr(weights_io, "BUILTIN_DIR", tmp_path / "weights")
    src = write_video(tmp_path / "clip.mkv", frames=5)
    common = ["--model", "mine", "--codec", "ffv1", "--segment-frames", "2", *FAST]
    real_run, calls = Restorer._run_window, []

    def crashing(self, frames, noise):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_run(self, frames, noise)

    monkeypatch.setattr(Restorer, "_run_window", crashing)
    assert vidrestore("run", src, "-o", tmp_path / "out.mkv", "--resume", *common) == 130
    monkeypatch.setattr(Restorer, "_run_window", real_run)
    set_inference.rewrite(model, refine=0.1)  # the same file, rewritten with another setting
    capsys.readouterr()
    _expect_error(capsys, ["run", src, "-o", tmp_path / "out.mkv", "--resume", *common], "different input, model or settings")


# -- bad input: one line, exit 2 -----------------------------------------------------------------
def _expect_error(capsys, argv, *words):
    code = vidrestore(*argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for word in words:
        assert word in err, (word, err)


def test_bad_inputs(tmp_path, capsys):
    _expect_error(capsys, ["run", tmp_path / "missing.mp4"], "not found")
    (tmp_path / "notes.mp4").write_text("this is not a video\n" * 50)
    _expect_error(capsys, ["run", tmp_path / "notes.mp4"], "cannot read", "media file")

    with av.open(str(tmp_path / "song.m4a"), "w") as o:
        a = o.add_stream("aac", rate=48000)
        f = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
        f.sample_rate, f.pts = 48000, 0
        o.mux(a.encode(f))
        o.mux(a.encode(None))
    _expect_error(capsys, ["run", tmp_path / "song.m4a"], "audio-only")

    with av.open(str(tmp_path / "empty.mkv"), "w") as o:  # a video stream with zero frames
        v = o.add_stream("ffv1", rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        o.start_encoding()
    _expect_error(capsys, ["run", tmp_path / "empty.mkv"], "no")

    write_video(tmp_path / "alpha.mkv", frames=2, codec="ffv1", pix_fmt="yuva420p")
    _expect_error(capsys, ["run", tmp_path / "alpha.mkv"], "pixel format", "yuva420p")

    with av.open(str(tmp_path / "avs2.nut"), "w") as o:  # a codec FFmpeg cannot decode
        s = o.add_mux_stream("avs2", width=64, height=48)
        p = av.Packet(b"\x00\x00\x01\xb0" + bytes(64))
        p.stream, p.pts, p.dts, p.time_base = s, 0, 0, s.time_base
        o.mux(p)
    _expect_error(capsys, ["run", tmp_path / "avs2.nut"], "codec")


def test_bad_outputs_and_options(tmp_path, capsys):
    src = write_video(tmp_path / "in.mp4", frames=3)
    _expect_error(capsys, ["run", src, "-o", src], "is the input")
    (tmp_path / "taken.mp4").write_bytes(b"keep me")
    _expect_error(capsys, ["run", src, "-o", tmp_path / "taken.mp4"], "already exists", "--overwrite")
    assert (tmp_path / "taken.mp4").read_bytes() == b"keep me"
    _expect_error(capsys, ["run", src, "-o", tmp_path / "nowhere" / "out.mp4"], "does not exist")
    (tmp_path / "afile").write_text("x")
    _expect_error(capsys, ["run", src, "-o", tmp_path / "afile" / "out.mp4"], "not a folder")
    _expect_error(capsys, ["run", src, "-o", tmp_path / "o.mp4", "--codec", "nosuchcodec"], "unknown video encoder")
    _expect_error(capsys, ["run", src, "-o", tmp_path / "o.mp4", "--codec", "ffv1", "--crf", "10"], "--crf")
    _expect_error(capsys, ["run", src, "-o", tmp_path / "o.mp4", "--pix-fmt", "rgb24"], "cannot encode")
    _expect_error(capsys, ["run", src, "-o", tmp_path / "o.mp4", "-e", "oops"], "KEY=VALUE")
    _expect_error(capsys, ["run", src, "-o", tmp_path / "o.mp4", "--start", "soon"], "bad time")
    _expect_error(capsys, ["run", src, "-o", tmp_path / "o.mp4", "--start", "2", "--end", "1"], "--end")
    _expect_error(capsys, ["run", src, "-o", tmp_path / "o.webm", "--codec", "libx264"], "cannot hold")
    _expect_error(capsys, ["run", src, "-o", tmp_path / "o.mp4", "--refine", "-1"], "refine strength")
    _expect_error(capsys, ["run", src, "-o", tmp_path / "o.mp4", "--temporal-mean", "2"], "temporal mean strength")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "in.mp4", "taken.mp4"]


def test_model_problems(tmp_path, capsys, monkeypatch):
    src = write_video(tmp_path / "in.mp4", frames=3)
    _expect_error(capsys, ["run", src, "--model", tmp_path / "missing.safetensors"], "not found")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00garbage" * 100)
    _expect_error(capsys, ["run", src, "--model", tmp_path / "junk.safetensors"], "junk.safetensors")
    # Without shipped default weights: a clear message, never a random-weights "restoration".
    from vidrestore import weights_io

    monkeypatch.setattr(weights_io, "BUILTIN_DIR", tmp_path / "no-weights-here")
    _expect_error(capsys, ["run", src], "no trained default weights")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "junk.safetensors"]


# -- info and compare ---------------------------------------------------------------------------
def test_info(tmp_path, capsys):
    src = write_video(tmp_path / "in.mp4", frames=7, pix_fmt="yuv420p10le", audio="aac", rotation=90,
                      colour=dict(color_range=1, colorspace=1, color_primaries=1, color_trc=1))
    assert vidrestore("info", src) == 0
    out = capsys.readouterr().out
    for word in ["h264", "64x48", "25 fps", "7 frames", "yuv420p10le", "10-bit", "bt709", "rotation: 90", "aac"]:
        assert word in out, (word, out)
    assert vidrestore("info", src, "--json") == 0
    import json

    data = json.loads(capsys.readouterr().out)
    assert data["video"]["frames"] == 7 and data["video"]["pix_fmt"] == "yuv420p10le"
    _expect_error(capsys, ["info", tmp_path / "nope.mp4"], "not found")


def test_compare_png_and_video(tmp_path):
    a = write_video(tmp_path / "a.mp4", frames=6)
    b = write_video(tmp_path / "b.mp4", frames=6, shots=[1] * 6)
    assert vidrestore("compare", a, b, "-o", tmp_path / "cmp.png", "--frame", "2") == 0
    with av.open(str(tmp_path / "cmp.png")) as c:
        img = next(c.decode(video=0))
        assert img.width == 2 * 64 + 2 and img.height > 48 * 2
    assert vidrestore("compare", a, b, "-o", tmp_path / "cmp.mp4") == 0
    v = read_video(tmp_path / "cmp.mp4")
    assert (v["width"], v["height"], len(v["frames"])) == (64, 48, 6)
    assert vidrestore("compare", a, b, "-o", tmp_path / "sbs.mp4", "--mode", "side") == 0
    assert read_video(tmp_path / "sbs.mp4")["width"] == 130
