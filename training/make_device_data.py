"""A small copy of the training and validation photos for a GPU machine that takes few files.

The lent GPU machine (training/RUNS.md, v0.10 and v0.14) accepts at most 64 MiB of files in all, the code,
the shipped weights and the packages it lacks included. This writes CBSD432 re-encoded as JPEG q85 (~18 MB;
the originals are 32 MB of JPEG) and Kodak 1-4 as JPEG q95 (the validation clips), laid out like
`../shared/data` so that `data.root=OUT` (DATA_ROOT=OUT in the recipes) reads it:

    python training/make_device_data.py ../shared/data .device_carry/data
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image  # noqa: E402

from training.data import IMAGE_EXTENSIONS  # noqa: E402

TRAIN = "train/cbsd432"
VAL = "dev/kodak24"
VAL_NAMES = [f"kodim{i:02d}.png" for i in range(1, 5)]


def reencode(src: Path, dst: Path, quality: int) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    Image.open(src).convert("RGB").save(dst.with_suffix(".jpg"), quality=quality)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root", type=Path, help="data root holding train/cbsd432 and dev/kodak24")
    p.add_argument("out", type=Path, help="output root (created)")
    p.add_argument("--train-quality", type=int, default=85)
    p.add_argument("--val-quality", type=int, default=95)
    args = p.parse_args(argv)
    train = sorted(f for f in (args.root / TRAIN).glob("*") if f.suffix.lower() in IMAGE_EXTENSIONS)
    val = [args.root / VAL / n for n in VAL_NAMES]
    missing = [str(f) for f in val if not f.is_file()]
    if not train or missing:
        print(f"error: need photos in {args.root / TRAIN} and {', '.join(VAL_NAMES)} in {args.root / VAL}",
              file=sys.stderr)
        return 2
    for f in train:
        reencode(f, args.out / TRAIN / f.name, args.train_quality)
    for f in val:
        reencode(f, args.out / VAL / f.name, args.val_quality)
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"{len(train)} training and {len(val)} validation photos, {size / 1e6:.1f} MB in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
