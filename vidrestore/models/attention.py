"""Token mixers of the latent DiT (tokens are latent pixels laid out as (B, H, W, C)).

* `FCSA`  IPT-V2 focal context self-attention: *channel* attention inside (shifted) local windows.
* `GGSA`  IPT-V2 global grid self-attention: *spatial* attention among tokens H/grid apart, so every
          token sees the whole frame while cost stays linear in its size. Optional HINT pieces:
          - HMHA: channels reranked by similarity, then split into heads of unequal width
          - QKCU: head interaction within a layer (learned head-mixing of the QK logits) and across
                  layers (a cache of the previous GGSA's logits, blended in; reset every forward).
* `RepLeFFN` IPT-V2 feed-forward: Linear -> re-parameterisable depthwise conv -> GELU -> Linear.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from vidrestore.models.layers import RepDWConv


class FCSA(nn.Module):
    """Channel self-attention within w x w windows, optionally shifted by w/2 (x: (B,H,W,C))."""

    def __init__(self, dim: int, heads: int, window: int, shift: bool):
        super().__init__()
        self.heads, self.window, self.shift = heads, window, shift
        self.qkv = nn.Linear(dim, 3 * dim)
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
        B, H, W, C = x.shape
        s = self.window // 2 if self.shift else 0
        if s:
            x = torch.roll(x, shifts=(-s, -s), dims=(1, 2))
        q, k, v = rearrange(
            self.qkv(x), "b (nh w1) (nw w2) (three g c) -> three (b nh nw) g c (w1 w2)",
            w1=self.window, w2=self.window, three=3, g=self.heads,
        )  # each (B*windows, heads, C/heads, window^2)
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        attn = (q @ k.transpose(-2, -1) * self.temperature).softmax(-1)  # (Bw, heads, C/h, C/h)
        out = rearrange(attn @ v, "(b nh nw) g c (w1 w2) -> b (nh w1) (nw w2) (g c)",
                        b=B, nh=H // self.window, w1=self.window)
        if s:
            out = torch.roll(out, shifts=(s, s), dims=(1, 2))
        return self.proj(out)


def head_widths(dim: int, split: list[int]) -> list[int]:
    """Unequal head widths proportional to `split` (HMHA), summing to dim."""
    total = sum(split)
    widths = [dim * s // total for s in split]
    widths[-1] += dim - sum(widths)
    return widths


class GGSA(nn.Module):
    """Spatial self-attention over a global sparse grid (x: (B,H,W,C), H and W multiples of grid).

    Group = the grid*grid tokens at the same offset inside each of the grid x grid cells.
    """

    def __init__(self, dim: int, heads: int, grid: int, hmha: bool, head_split: list[int], qkcu: bool):
        super().__init__()
        self.grid, self.hmha, self.qkcu = grid, hmha, qkcu
        self.widths = head_widths(dim, head_split) if hmha else [dim // heads] * heads
        n = len(self.widths)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        if qkcu:
            self.head_mix = nn.Parameter(torch.zeros(n, n))  # intra-layer: logits_i += sum_j M_ij logits_j
            self.cache_gate = nn.Parameter(torch.zeros(n, 1, 1, 1))  # inter-layer: += g_i * previous logits

    def rerank(self, q, k, v):
        """HMHA: order channels by cosine similarity to the mean channel (per sample) so that
        similar channels share a head. q,k,v: (B, N, C)."""
        desc = F.normalize(q.transpose(1, 2), dim=-1)  # (B, C, N)
        sim = (desc * F.normalize(desc.mean(1, keepdim=True), dim=-1)).sum(-1)  # (B, C)
        order = sim.argsort(dim=1, descending=True).unsqueeze(1).expand_as(q)
        return [t.gather(2, order) for t in (q, k, v)], order

    def forward(self, x: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
        B, H, W, C = x.shape
        q, k, v = self.qkv(x).flatten(1, 2).chunk(3, dim=-1)  # (B, N, C)
        order = None
        if self.hmha:
            (q, k, v), order = self.rerank(q, k, v)
        to_groups = lambda t: rearrange(t, "b (gh h gw w) c -> (b h w) (gh gw) c",
                                        gh=self.grid, gw=self.grid, h=H // self.grid, w=W // self.grid)
        q, k, v = map(to_groups, (q, k, v))  # (B*groups, grid^2, C)
        qs, ks, vs = (t.split(self.widths, dim=-1) for t in (q, k, v))
        logits = torch.stack([qi @ ki.transpose(1, 2) / math.sqrt(qi.shape[-1]) for qi, ki in zip(qs, ks)])
        # logits: (heads, B*groups, grid^2, grid^2)
        if self.qkcu:
            logits = logits + torch.einsum("ij,jbnm->ibnm", self.head_mix, logits)
            if cache is not None:
                prev = cache.get("ggsa_logits")
                if prev is not None and prev.shape == logits.shape:
                    logits = logits + self.cache_gate * prev
                cache["ggsa_logits"] = logits
        attn = logits.softmax(-1)
        out = torch.cat([a @ vi for a, vi in zip(attn, vs)], dim=-1)  # (B*groups, grid^2, C)
        out = rearrange(out, "(b h w) (gh gw) c -> b (gh h gw w) c", b=B, h=H // self.grid, w=W // self.grid, gh=self.grid)
        if order is not None:  # undo the channel reranking
            out = torch.empty_like(out).scatter_(2, order, out)
        return self.proj(out).view(B, H, W, C)


class RepLeFFN(nn.Module):
    """Locally-enhanced FFN with a re-parameterisable depthwise conv. x: (B,H,W,C) -> (B,H,W,C)."""

    def __init__(self, dim: int, ratio: float):
        super().__init__()
        hidden = int(dim * ratio)
        self.fc1 = nn.Linear(dim, hidden)
        self.dw = RepDWConv(hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x).permute(0, 3, 1, 2)  # (B, hidden, H, W)
        h = F.gelu(self.dw(h)).permute(0, 2, 3, 1)
        return self.fc2(h)
