"""Grid-tune peers' parameters on a separate clip, so we compare against each peer at its best.

For every (method, degradation) the candidates of ``method.grid(info)`` are run
on the tuning clip (another source, or the same source with another motion and
noise seed: never the evaluated frames) and the one with the best mean PSNR is
kept. Results are cached in a JSON file keyed by method and degradation and
reused while the grid and the tuning clip are unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vidrestore.evaluation.data import EvalClip
from vidrestore.evaluation.metrics import psnr
from vidrestore.evaluation.peers import Method


class TuneCache:
    """A JSON file ``{"method/degradation": {"signature": ..., "params": ..., "scores": [...]}}``."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self.entries: dict[str, Any] = {}
        if self.path and self.path.is_file():
            try:
                self.entries = json.loads(self.path.read_text())
            except (OSError, json.JSONDecodeError):
                self.entries = {}  # a broken cache is only a cache: start again

    def get(self, key: str, signature: str) -> dict[str, Any] | None:
        entry = self.entries.get(key)
        return dict(entry["params"]) if entry and entry.get("signature") == signature else None

    def put(self, key: str, signature: str, params: dict[str, Any], scores: list[tuple[dict[str, Any], float]]) -> None:
        self.entries[key] = {
            "signature": signature,
            "params": params,
            "scores": [{"params": p, "psnr": round(s, 4)} for p, s in scores],
        }
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self.entries, indent=1, sort_keys=True))


def tune(method: Method, clip: EvalClip, cache: TuneCache) -> dict[str, Any]:
    """Best parameters of ``method`` on ``clip`` (cached); also sets ``method.params`` to them."""
    grid = method.grid(clip.info)
    if not grid:  # nothing to tune (input, model)
        return dict(method.params)
    base = dict(method.defaults)
    if len(grid) == 1:
        method.params = {**base, **grid[0]}
        return dict(method.params)
    key = f"{method.name}/{clip.info.degradation}"
    signature = json.dumps({"grid": grid, "clip": clip.info.name, "shape": list(clip.clean.shape)}, sort_keys=True)
    cached = cache.get(key, signature)
    if cached is not None:
        method.params = {**base, **cached}
        return dict(method.params)
    scores = []
    for candidate in grid:
        method.params = {**base, **candidate}
        out = method(clip.degraded, clip.info)
        value = float(psnr(out.clamp(0, 1), clip.clean).clamp(max=100).mean()) if out.shape == clip.clean.shape else float("-inf")
        scores.append((dict(method.params), value))
    best = max(scores, key=lambda s: s[1])[0]
    cache.put(key, signature, best, scores)
    method.params = dict(best)
    return dict(best)
