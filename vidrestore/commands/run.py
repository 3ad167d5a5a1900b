"""`vidrestore run`: restore a video file, keeping everything but the picture as it was.

The output has the same frames (count and timestamps, constant or variable frame rate), the
same colour tags, bit depth, rotation and aspect ratio, and the input's audio, subtitle and
data streams copied packet for packet. It is written to a hidden temp file beside OUTPUT and
renamed only when complete, so an interrupted run never leaves a half-written OUTPUT.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from vidrestore.config import ENSEMBLES
from vidrestore.errors import ConfigError, InputError, OutputError

HELP = "restore a video file (picture only: audio, subtitles, timing and colour metadata are kept)"

_FROM_MODEL = "(default%(default).0s: the model's own setting)"

EPILOG = """\
times: --start/--end take seconds (12.5), [hh:]mm:ss(.s) (1:02.5), or a frame number with an
  'f' suffix (300f, counted from the first frame of the file). --end is exclusive. A trimmed
  output starts at time 0; audio and subtitles are cut to the same span.
damaged input: a truncated or partly corrupt file is restored as far as it decodes, with a
  warning saying how many frames were lost.
resume: with --resume the output is built from segments in .OUTPUT.vidrestore-parts/ beside
  OUTPUT; after an interruption, run the same command again to continue from the last
  finished segment. The result is the same as an uninterrupted run.
exit status: 0 on success, 2 on a problem with the input, output, model or options
  (one-line message), 130 when interrupted.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = EPILOG
    p.formatter_class = _Formatter
    p.add_argument("input", metavar="INPUT", help="video file to restore (never modified)")
    p.add_argument("-o", "--output", metavar="OUTPUT",
                   help="output file; the extension picks the container (default%(default).0s: INPUT_restored.EXT)")

    g = p.add_argument_group("model")
    g.add_argument("--model", default="default", metavar="NAME|PATH",
                   help="shipped model name or path to a .safetensors weights file")
    g.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    g.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                   help="compute precision (fp16 needs a GPU); auto: bf16 on a CPU with native bf16 "
                        "(AVX512-BF16 or AMX, ~1.3x faster), else fp32 (default: %(default)s)")
    g.add_argument("--tile", type=int, default=None, metavar="PX",
                   help="spatial tile size in pixels (multiple of 32) " + _FROM_MODEL)
    g.add_argument("--tile-overlap", type=int, default=None, metavar="PX",
                   help="overlap between tiles in pixels (multiple of 32) " + _FROM_MODEL)
    g.add_argument("--window", type=int, default=None, metavar="N",
                   help="frames the model sees at once (temporal window) " + _FROM_MODEL)
    g.add_argument("--window-overlap", type=int, default=None, metavar="N",
                   help="overlap between temporal windows in frames " + _FROM_MODEL)
    g.add_argument("--steps", type=int, default=None, help="sampling steps " + _FROM_MODEL)
    g.add_argument("--seed", type=int, default=None, help="noise seed (same seed, same output) " + _FROM_MODEL)
    g.add_argument("--ensemble", type=int, choices=ENSEMBLES, default=None, metavar="N",
                   help="quality mode: average the model over N flips/transposes of each tile, N times "
                        "slower (%(choices)s) " + _FROM_MODEL)
    g.add_argument("--refine", type=float, default=None, metavar="STRENGTH",
                   help="guided refinement of each restored frame against the noise the network leaves on flat "
                        "areas (with the file's detail pass, if it has one), 0 = off " + _FROM_MODEL)
    g.add_argument("--temporal-mean", type=float, default=None, metavar="ALPHA",
                   help="after the refinement, average each frame with its motion-aligned neighbours where they "
                        "agree within ALPHA x the noise removed (0 = off, at most 1) " + _FROM_MODEL)
    g.add_argument("--batch-size", type=int, default=16, metavar="FRAMES",
                   help="frames per model call for restorers without temporal windows; the vidrestore "
                        "models restore each shot one --window at a time and ignore it")

    g = p.add_argument_group("output encoding")
    g.add_argument("--codec", default="libx264",
                   help="video encoder: libx264, libx265, libsvtav1, ffv1 (lossless) or any FFmpeg video encoder")
    g.add_argument("--crf", type=float, default=None,
                   help="constant-quality level, lower is better (default%(default).0s: 18 for libx264, "
                        "20 for libx265, 28 for libsvtav1; ffv1 is lossless)")
    g.add_argument("--preset", default=None,
                   help="encoder speed preset (default%(default).0s: medium for libx264/libx265, 8 for libsvtav1)")
    g.add_argument("--pix-fmt", default=None, metavar="FMT",
                   help="output pixel format (default%(default).0s: the input's, e.g. 10-bit stays 10-bit, "
                        "or the closest one the encoder supports)")
    g.add_argument("-e", "--encoder-option", action="append", default=[], metavar="KEY=VALUE",
                   help="extra encoder option, repeatable (e.g. -e tune=film -e x264-params=aq-mode=3)")
    g.add_argument("--no-audio", action="store_true", help="leave audio streams out (subtitles etc. are still copied)")

    g = p.add_argument_group("span and behaviour")
    g.add_argument("--start", default=None, metavar="TIME",
                   help="restore from this time: seconds, [hh:]mm:ss or frame number like 300f (default%(default).0s: start of file)")
    g.add_argument("--end", default=None, metavar="TIME",
                   help="stop before this time (same forms as --start) (default%(default).0s: end of file)")
    g.add_argument("--scene-threshold", type=float, default=0.35, metavar="T",
                   help="scene-cut sensitivity: colour-histogram change between frames (0-1) above which "
                        "a new shot starts; temporal context never crosses a cut; 1 disables")
    g.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    g.add_argument("--resume", action="store_true",
                   help="encode in segments and continue an interrupted run from its last finished segment")
    g.add_argument("--segment-frames", type=int, default=1024, metavar="N",
                   help="with --resume: frames per segment")
    g.add_argument("--no-progress", action="store_true", help="no progress bar (the summary line is still printed)")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults in option help (not for on/off flags and lists), epilog printed as written."""

    def _get_help_string(self, action):
        if action.default is False or action.default == []:
            return action.help
        return super()._get_help_string(action)


def _log(message: str) -> None:
    try:
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr)
    except Exception:  # noqa: BLE001
        print(message, file=sys.stderr)


def default_output(input_path: Path) -> Path:
    """``clip.mp4`` -> ``clip_restored.mp4`` (same folder, same container)."""
    return input_path.with_name(f"{input_path.stem}_restored{input_path.suffix or '.mkv'}")


def check_output_path(output: Path, input_path: Path, overwrite: bool) -> None:
    """Refuse outputs that would clobber the input, an existing file, or cannot be written."""
    if output.exists() and input_path.exists() and (os.path.samefile(output, input_path)):
        raise OutputError(f"output {output} is the input file; choose another name")
    if output.resolve() == input_path.resolve():
        raise OutputError(f"output {output} is the input file; choose another name")
    if output.is_dir():
        raise OutputError(f"output {output} is a folder; give a file name")
    if output.exists() and not overwrite:
        raise OutputError(f"output {output} already exists (use --overwrite to replace it)")
    parent = output.parent
    if not parent.exists():
        raise OutputError(f"output folder {parent} does not exist")
    if not parent.is_dir():
        raise OutputError(f"output folder {parent} is not a folder")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"output folder {parent} is not writable")
    if not output.suffix:
        raise OutputError(f"output {output} has no extension; add one (.mp4, .mkv, .mov) to pick the container")


def parse_encoder_options(items: list[str]) -> dict[str, str]:
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"bad encoder option {item!r}: use KEY=VALUE")
        options[key.strip()] = value
    return options


def _model_key(args, runtime: dict) -> dict:
    """What identifies the model for --resume: its name, runtime options and the weights file's content (a changed
    file, say the shipped `default` after an upgrade, must not be mixed into a half-finished output)."""
    import hashlib

    from vidrestore import weights_io as W

    key = {"model": str(args.model), **{k: v for k, v in runtime.items()}}
    path = W.resolve(args.model)  # (it loaded: it exists)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    key.update(path=str(path.resolve()), sha256=digest.hexdigest())
    return key


def main(args: argparse.Namespace) -> int:
    from vidrestore.io.probe import probe
    from vidrestore.io.reader import Position
    from vidrestore.io.writer import EncoderSettings, OutputFile, plan_encoder
    from vidrestore.pipeline import RunOptions, parts_dir_for, restore_file

    input_path = Path(args.input)
    info = probe(input_path, check_decode=True)
    output = Path(args.output) if args.output else default_output(input_path)
    check_output_path(output, input_path, args.overwrite)

    if args.batch_size < 1:
        raise ConfigError("--batch-size must be >= 1")
    if args.segment_frames < 1:
        raise ConfigError("--segment-frames must be >= 1")
    if not 0 <= args.scene_threshold:
        raise ConfigError("--scene-threshold must be >= 0")
    start = Position.parse(args.start) if args.start is not None else None
    end = Position.parse(args.end) if args.end is not None else None
    if start and end and start.frames == end.frames and end.value <= start.value:
        raise ConfigError(f"--end ({args.end}) must come after --start ({args.start})")

    settings = EncoderSettings(codec=args.codec, crf=args.crf, preset=args.preset, pix_fmt=args.pix_fmt,
                               options=parse_encoder_options(args.encoder_option))
    plan = plan_encoder(settings, info.video)
    # Open the output container once with all streams, so "mp4 cannot hold ffv1" and
    # unwritable folders are reported before the model is loaded.
    probe_out = OutputFile(output, copy_from=input_path, video_index=info.video.index, no_audio=args.no_audio,
                           log=lambda _msg: None, tmp_tag="check")
    try:
        probe_out.add_encoder(plan)
    finally:
        probe_out.abort()
    for note in plan.notes:
        _log(f"note: {note}")

    from vidrestore.restorer import Restorer

    runtime = {k: v for k, v in dict(device=args.device, precision=args.precision, tile=args.tile,
                                      tile_overlap=args.tile_overlap, window=args.window,
                                      window_overlap=args.window_overlap, steps=args.steps,
                                      seed=args.seed, ensemble=args.ensemble, refine=args.refine,
                                      temporal_mean=args.temporal_mean).items() if v is not None}
    restorer = Restorer.from_pretrained(args.model, **runtime)

    options = RunOptions(chunk_size=args.batch_size, scene_threshold=args.scene_threshold, start=start, end=end,
                         no_audio=args.no_audio, resume=args.resume, segment_frames=args.segment_frames,
                         progress=not args.no_progress)
    try:
        summary = restore_file(input_path, output, restorer, plan, options, info=info,
                               model_key=_model_key(args, {**runtime, "precision": restorer.precision}), log=_log)
    except KeyboardInterrupt:
        if args.resume:
            _log(f"interrupted: finished segments are kept in {parts_dir_for(output)}; "
                 "run the same command again to continue")
        else:
            _log("interrupted: no output written (use --resume to make long runs resumable)")
        raise
    print(summary.line(), file=sys.stderr)
    return 0


__all__ = ["HELP", "add_arguments", "main", "default_output", "check_output_path", "InputError"]
