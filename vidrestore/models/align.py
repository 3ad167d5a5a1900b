"""Motion alignment without parameters: coarse-to-fine block matching, then warping.

    ref, src (N,C,H,W) in [0,1]  -->  flow (N,2,H,W) in pixels (x, y), with src(p + flow(p)) ~ ref(p)

    level 1/4:  both frames grey, average-pooled x4 (noise std / 4); for every shift d in [-R, R]^2 the
                squared difference, box-filtered over a block (block matching, one cost map per
                shift); best whole-pixel shift per pixel               (reach +-4R px at full size)
    level 1/2, 1: flow upsampled x2, src warped by it, the same search over +-1 around it
    every level: 3x3 median of the flow (drops isolated wrong matches), then
                + one Lucas-Kanade step over the same block for the sub-pixel part (0 where the
                warped frame already matches, unlike a parabola through the costs, which the
                texture biases)
    match_scale m > 1: the three searched levels at 1/(4m), 1/(2m), 1/m, then at each finer scale down to
                full size only the Lucas-Kanade step. The temporal mean after the refinement matches with
                m = 2 (its search on training clips: +0.522 against +0.493 dB for m = 1, in ~30 % less of
                its time at 256x192); the decoder keeps m = 1, the flows it was trained with

The temporal layers of the decoder mix a frame with its neighbours through small kernels, so they
can only follow a few pixels of motion; V-BM3D's gain over BM3D comes from aggregating blocks that
were matched across frames first. Warping the neighbours onto frame t gives the decoder's LQ branch
that aligned view. It has no weights to train and runs under no_grad; where the match fails
(occlusion, new content) the warped neighbour simply disagrees with frame t and the network, which
also sees frame t, learns to ignore it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange

from vidrestore.models.layers import by_frames


def warp(src: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """src (N,C,H,W), flow (N,2,H,W) pixels -> src sampled at p + flow(p) (bicubic: bilinear would blur
    fine texture at half-pixel shifts; edges replicated). Sampled in fp32 (bf16 coordinates would be
    off by pixels), returned in src's dtype."""
    N, _, H, W = src.shape
    xy = torch.stack(torch.meshgrid(torch.arange(W, device=src.device, dtype=torch.float32),
                                    torch.arange(H, device=src.device, dtype=torch.float32), indexing="xy"), dim=-1)  # (H,W,2)
    scale = torch.tensor([2 / max(W - 1, 1), 2 / max(H - 1, 1)], device=src.device)
    grid = (flow.float().permute(0, 2, 3, 1) + xy).mul_(scale).sub_(1)  # (N,H,W,2) in [-1, 1], x first
    with torch.autocast(src.device.type, enabled=False):
        out = F.grid_sample(src.float(), grid, mode="bicubic", padding_mode="border", align_corners=True)
    return out.to(src.dtype)


def window_sums(x: torch.Tensor, ky: int, kx: int) -> torch.Tensor:
    """Sum of every ky x kx window that lies inside x: (..., H+ky-1, W+kx-1) -> (..., H, W). Separable, kx then ky
    shifted slices added: exact to float32 rounding of k terms (running sums along a row lose digits as the row
    grows) and, on batches that fit in the CPU's caches, ~4x faster than running sums (cumsum) or avg_pool2d."""
    H, W = x.shape[-2] - ky + 1, x.shape[-1] - kx + 1
    rows = x[..., :W].clone()
    for i in range(1, kx):
        rows += x[..., i:i + W]
    out = rows[..., :H, :].clone()
    for i in range(1, ky):
        out += rows[..., i:i + H, :]
    return out


def box_sum(x: torch.Tensor, k: int) -> torch.Tensor:
    """Sum over the k x k window centred on each pixel (zeros outside), k odd: (..., H, W) -> same."""
    p = k // 2
    return window_sums(F.pad(x, (p, p, p, p)), k, k)


def box_mean_inside(x: torch.Tensor, k: int) -> torch.Tensor:
    """Mean over the part of the k x k window centred on each pixel that lies inside the frame, k odd:
    (N,C,H,W) -> same, = F.avg_pool2d(x, k, 1, k // 2, count_include_pad=False) to float32 rounding, ~5x faster on a
    CPU (that pooling kernel is not vectorised there)."""
    count = box_sum(torch.ones(1, 1, *x.shape[-2:], dtype=x.dtype, device=x.device), k)  # (1,1,H,W), once per call
    return by_frames(lambda part: box_sum(part, k) / count, x)  # (CPU inference: a few frames at a time, cache-sized)


def block_search(ref: torch.Tensor, src: torch.Tensor, radius: int, block: int, prior: float = 0.0) -> torch.Tensor:
    """Best whole-pixel shift of src onto ref per pixel over [-radius, radius]^2: (N,2,H,W) pixels.

    ref, src (N,1,H,W) grey. cost(d) = sum_block (src(p + d) - ref(p))^2 / block^2 + prior * |d|^2 (the
    prior breaks ties in flat areas towards no motion). The box counts zeros beyond the frame's
    edge, which lowers every shift's cost alike there and moves no minimum."""
    N, _, H, W = ref.shape
    S = 2 * radius + 1
    padded = F.pad(src, (radius, radius, radius, radius), mode="replicate")
    d = torch.arange(-radius, radius + 1, device=ref.device, dtype=ref.dtype)
    penalty = prior * (d.view(S, 1).square() + d.view(1, S).square()).view(S * S)
    # one shift at a time, keeping the running minimum (the first shift wins ties, as min() over a stack
    # of all S*S cost maps would): 2-4x faster on a CPU than that stack, which does not fit in its caches.
    # The squared differences go into the inside of one zero-bordered buffer (box_sum's padding, allocated once)
    # and the cost maps are updated in place: the same arithmetic as box_sum(...) / block**2 + penalty, fewer
    # allocations
    p = block // 2
    sq = ref.new_zeros(N, 1, H + 2 * p, W + 2 * p)
    inside = sq[..., p:p + H, p:p + W]
    best_cost = best = None
    for i in range(S * S):  # shift (dy - r, dx - r) at i = dy * S + dx
        dy, dx = divmod(i, S)
        torch.sub(padded[:, :, dy:dy + H, dx:dx + W], ref, out=inside).square_()
        cost = window_sums(sq, block, block).div_(block**2).add_(penalty[i])  # (N,1,H,W)
        if best is None:
            best_cost, best = cost, torch.zeros_like(cost, dtype=torch.long)
        else:
            best.masked_fill_(cost < best_cost, i)
            torch.minimum(cost, best_cost, out=best_cost)
    return torch.cat([best % S - radius, best // S - radius], dim=1).to(ref.dtype)


# compare-exchange pairs whose last survivor at index 4 is the median of 9 (Paeth's network, as in
# N. Devillard, "Fast median search: an ANSI C implementation", 1998: opt_med9)
_MEDIAN9 = [(1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3), (5, 8), (4, 7),
            (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2)]


def median3(flow: torch.Tensor) -> torch.Tensor:
    """3x3 median of each flow component: (N,2,H,W) -> same. Removes the isolated wrong matches that
    noise causes, which the sub-pixel step could not repair (it assumes a smooth flow over its block).
    A min/max sorting network: exact, and ~10x faster on a CPU than torch.median over 9 values; each
    compare-exchange writes into buffers allocated once (~1.5x faster than fresh tensors per step)."""
    H, W = flow.shape[-2:]
    pad = F.pad(flow, (1, 1, 1, 1), mode="replicate")
    v = [pad[..., i:i + H, j:j + W].contiguous() for i in range(3) for j in range(3)]
    spare = torch.empty_like(v[0])
    for a, b in _MEDIAN9:  # v[a], v[b] = min, max
        torch.minimum(v[a], v[b], out=spare)
        torch.maximum(v[a], v[b], out=v[b])
        v[a], spare = spare, v[a]
    return v[4]


def lucas_kanade(ref: torch.Tensor, src: torch.Tensor, block: int, eps: float = 1e-5) -> torch.Tensor:
    """One Lucas-Kanade step: the sub-pixel shift d (|d| <= 0.5) with src(p + d) ~ ref(p), from the
    block's gradient normal equations: (N,1,H,W) grey -> (N,2,H,W). Where src already matches ref
    the step is 0 (a parabola through the block-matching costs is biased there by the texture),
    and in flat blocks `eps` holds it at 0."""
    gx = F.pad(src[..., 2:] - src[..., :-2], (1, 1)) / 2  # central differences, 0 at the edges
    gy = F.pad(src[..., 2:, :] - src[..., :-2, :], (0, 0, 1, 1)) / 2
    e = src - ref
    a, b, c = (box_sum(v, block) / block**2 for v in (gx * gx, gx * gy, gy * gy))
    p, q = (box_sum(v, block) / block**2 for v in (gx * e, gy * e))
    det = a * c - b * b + eps * (a + c) + eps**2  # = det(M + eps I): regularised
    dx = -((c + eps) * p - b * q) / det
    dy = -((a + eps) * q - b * p) / det
    return torch.cat([dx, dy], dim=1).clamp(-0.5, 0.5)


def _resize_flow(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    h, w = flow.shape[-2:]
    up = F.interpolate(flow, size=size, mode="bilinear", align_corners=False)
    return up * torch.tensor([size[1] / w, size[0] / h], device=flow.device, dtype=flow.dtype).view(1, 2, 1, 1)


MATCH_SCALES = (1, 2, 4)  # estimate_flow's match_scale: the finest block-matching level at 1/match_scale size


@torch.no_grad()
def estimate_flow(ref: torch.Tensor, src: torch.Tensor, radius: int = 4, blocks: tuple[int, int, int] = (7, 9, 9),
                  prior: float = 1e-4, pixels: int = 0, match_scale: int = 1) -> torch.Tensor:
    """Coarse-to-fine block matching: ref, src (N,C,H,W) -> flow (N,2,H,W) pixels (see the module doc). With `pixels`,
    each level matches the pairs ~that many pixels per call (the same flows; see PAIR_PIXELS). match_scale (one of
    MATCH_SCALES): the searched levels end at 1/match_scale size, the finer ones take a sub-pixel step only."""
    if match_scale not in MATCH_SCALES:
        raise ValueError(f"match_scale must be one of {MATCH_SCALES}, got {match_scale}")
    H, W = ref.shape[-2:]
    ref, src = ref.mean(1, keepdim=True), src.mean(1, keepdim=True)  # grey: matching needs no colour
    flow = None
    levels = [(match_scale * s, block, True) for s, block in zip((4, 2, 1), blocks)]  # (scale, block, search)
    levels += [(s, blocks[-1], False) for s in (2, 1) if s < match_scale]
    for scale, block, search in levels:
        r = F.avg_pool2d(ref, scale, ceil_mode=True) if scale > 1 else ref
        s = F.avg_pool2d(src, scale, ceil_mode=True) if scale > 1 else src
        n = max(1, pixels // (r.shape[-2] * r.shape[-1])) if pixels else len(r)  # pairs per call
        flow = torch.cat([_match_level(r[i:i + n], s[i:i + n], None if flow is None else flow[i:i + n], radius, block,
                                       prior, search) for i in range(0, len(r), n)])
    return flow if flow.shape[-2:] == (H, W) else _resize_flow(flow, (H, W))


def _match_level(r: torch.Tensor, s: torch.Tensor, flow: torch.Tensor | None, radius: int, block: int,
                 prior: float, search: bool = True) -> torch.Tensor:
    """One level of estimate_flow: grey r, s (n,1,h,w) and the coarser level's flow (None at the coarsest, where the
    search spans +-radius) -> flow (n,2,h,w). search=False: the coarser flow plus the sub-pixel step only."""
    if not search:
        flow = _resize_flow(flow, r.shape[-2:])
    elif flow is None:
        flow = median3(block_search(r, s, radius, block, prior))
    else:
        flow = _resize_flow(flow, r.shape[-2:])
        flow = median3(flow + block_search(r, warp(s, flow), 1, block, prior))
    return flow + lucas_kanade(r, warp(s, flow), block)  # sub-pixel


# each level matches the pairs a few at a time, ~this many pixels per call: the cost maps of one call then stay in the
# CPU's caches (at 256x192, 16 pairs per call at full size match 28 frames' pairs ~25 % faster than one call for all),
# while the small coarse levels still run many pairs per call (fewer, larger operations); the same flows either way
PAIR_PIXELS = 800_000


def neighbour_offsets(r: int) -> list[int]:
    return [d for d in range(-r, r + 1) if d]  # t-r .. t-1, t+1 .. t+r


def stack_neighbours(x: torch.Tensor, T: int, r: int, centre: bool = True) -> torch.Tensor:
    """Frames t-r..t+r of every frame on the channel axis, replicated at the clip's ends:
    (B*T,C,H,W) -> (B*T,(2r+1)C,H,W), or (B*T,2rC,H,W) without frame t itself (centre=False)."""
    clip = rearrange(x, "(b t) c h w -> b c t h w", t=T)
    clip = F.pad(clip, (0, 0, 0, 0, r, r), mode="replicate") if r else clip
    offsets = [d for d in range(-r, r + 1) if centre or d]
    frames = [clip[:, :, r + d:r + d + T] for d in offsets]  # each (B,C,T,H,W)
    return rearrange(torch.cat(frames, dim=1), "b c t h w -> (b t) c h w")


@torch.no_grad()
def neighbour_flows(x: torch.Tensor, T: int, r: int, radius: int = 4, frames: list[int] | None = None,
                    match_scale: int = 1) -> torch.Tensor:
    """Flows of frames t-r..t+r (without t) onto frame t: (B*T,C,H,W) -> (B*T,2r,2,H,W), or with `frames`
    only those frames of each clip: (B*len(frames),2r,2,H,W). match_scale: estimate_flow's.

    Each distinct pair of frames is matched once, on a CPU in batches of ~PAIR_PIXELS pixels (at a clip's end the
    replicated neighbour t-2 of frame 1 is frame 0, the same pair as its t-1); where the replicated
    neighbour is frame t itself the flow is zero."""
    B, H, W = x.shape[0] // T, x.shape[-2], x.shape[-1]
    clip = rearrange(x.float(), "(b t) c h w -> b t c h w", t=T)  # fp32 whatever the autocast: running sums
    frames = list(range(T)) if frames is None else frames
    slots = [(t, min(max(t + d, 0), T - 1)) for t in frames for d in neighbour_offsets(r)]  # (frame, its neighbour)
    pairs = sorted({(t, s) for t, s in slots if s != t})
    found = x.new_zeros(B, len(pairs) + 1, 2, H, W, dtype=torch.float32)  # the last one: zero flow
    if pairs:
        ti, si = torch.tensor(pairs, device=x.device).T
        ref, src = clip[:, ti].flatten(0, 1), clip[:, si].flatten(0, 1)  # (B*pairs,C,H,W), clip-major
        with torch.autocast(x.device.type, enabled=False):
            pixels = PAIR_PIXELS if x.device.type == "cpu" else 0  # (a GPU runs best on all pairs at once)
            found[:, :-1] = estimate_flow(ref, src, radius, pixels=pixels, match_scale=match_scale).view(
                B, len(pairs), 2, H, W)
    index = {pair: i for i, pair in enumerate(pairs)}
    flows = found[:, [index.get(slot, len(pairs)) for slot in slots]]  # (B, len(frames)*2r, 2, H, W), slot order
    return flows.view(B * len(frames), 2 * r, 2, H, W)


def clip_rows(B: int, T: int, frames: list[int]) -> list[int]:
    """Rows of the frames `frames` of every clip in a (B*T, ...) batch, clip by clip."""
    return [b * T + t for b in range(B) for t in frames]


def warp_neighbours(x: torch.Tensor, T: int, flows: torch.Tensor, frames: list[int] | None = None) -> torch.Tensor:
    """Frames t-r..t+r (without t) warped onto frame t by `flows` (from neighbour_flows, with the same `frames`),
    on the channel axis: (B*T,C,H,W) -> (B*T,2rC,H,W) (or B*len(frames) rows), ordered like
    `stack_neighbours(centre=False)`. Differentiable in x (the flows are fixed)."""
    r, C = flows.shape[1] // 2, x.shape[1]
    nb = stack_neighbours(x, T, r, centre=False)
    if frames is not None:
        nb = nb[clip_rows(x.shape[0] // T, T, frames)]
    frames = rearrange(nb, "n (k c) h w -> (n k) c h w", c=C)
    warped = warp(frames, rearrange(flows, "n k two h w -> (n k) two h w"))  # every neighbour in one call
    return rearrange(warped, "(n k) c h w -> n (k c) h w", k=2 * r)


def aligned_neighbours(x: torch.Tensor, T: int, r: int, radius: int = 4) -> torch.Tensor:
    """`warp_neighbours` with the flows estimated from x itself."""
    return warp_neighbours(x, T, neighbour_flows(x, T, r, radius))


def temporal_mean(x: torch.Tensor, nb: torch.Tensor, h2: torch.Tensor | float, box: int = 5,
                  present: torch.Tensor | None = None) -> torch.Tensor:
    """Frame t averaged with its neighbours aligned onto it, each weighted per pixel by exp(-d / h2), d = their mean
    squared difference to frame t over a box x box window (a non-local mean over time: where a neighbour is
    misaligned or occluded it drops out): x (N,3,H,W), nb (N,3K,H,W), h2 a number or (N,1,H,W) (or (N,1,1,1)),
    present (N,K) bool: False leaves a neighbour out -> (N,3,H,W)."""
    nb = nb.unflatten(1, (-1, 3))  # (N,K,3,H,W)
    d = box_mean_inside((nb - x[:, None]).pow(2).mean(2), box)  # (N,K,H,W), every neighbour in one pass
    w = torch.exp(-d / torch.as_tensor(h2, dtype=d.dtype, device=d.device).clamp(min=1e-12))  # (h2 = 0: they drop out)
    if present is not None:
        w = w * present[:, :, None, None].to(w.dtype)
    return (x + (w[:, :, None] * nb).sum(1)) / (1 + w.sum(1, keepdim=True))
