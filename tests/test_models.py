"""Invariants of the model chain (tiny sizes, CPU)."""

import pytest
import torch
import torch.nn.functional as F

from vidrestore.config import load_model_config
from vidrestore.errors import ConfigError
from vidrestore.models.attention import GGSA
from vidrestore.models.chain import RestorationChain
from vidrestore.models.align import neighbour_flows, temporal_mean, warp_neighbours
from vidrestore.models.decoder import MotionGate, NVSMAttention, TemporalPixelDecoder, deblock_scale, deblock_weight, estimate_noise
from vidrestore.models.dit import LatentDiT
from vidrestore.models.layers import HRMConv, RepConv, RepDWConv, ResBlock, deploy_all
from vidrestore.models.lpvae import LPVAE


def activate(module: torch.nn.Module, std: float = 0.02) -> torch.nn.Module:
    """Give every zero-initialised parameter (or zeroed entry, like a stream gain) small random
    values so that every path (adaLN gates, LQ injections, temporal layers) actually contributes."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            zero = p == 0
            if zero.any():
                p[zero] = torch.randn(p.shape, generator=g)[zero] * std
    return module


@pytest.fixture(scope="module")
def cfg():
    return load_model_config("tiny")


def test_latent_shape_and_macro_channels(cfg):
    vae = LPVAE(cfg.vae).eval()
    x = torch.rand(3, 3, 64, 96)
    z = vae.encode(x)
    assert z.shape == (3, 64, 2, 3)
    assert torch.allclose(z[:, :3], F.avg_pool2d(x, 32) * 2 - 1)
    assert vae.decode(z).shape == x.shape
    assert vae.decode_coarse(z[:, :12]).shape == x.shape


@pytest.mark.parametrize("make", [lambda: HRMConv(8, 8), lambda: HRMConv(8, 12), lambda: RepDWConv(8), lambda: ResBlock(8)])
def test_reparam_modules_fuse_exactly(make):
    torch.manual_seed(0)
    m = make().eval()
    x = torch.randn(2, m.in_ch if isinstance(m, RepConv) else 8, 9, 11)
    with torch.no_grad():
        before = m(x)
        deploy_all(m)
        after = m(x)
    assert not any(isinstance(c, RepConv) and c.fused is None for c in m.modules())
    assert (before - after).abs().max() < 1e-4


@pytest.mark.parametrize("make", [lambda: HRMConv(8, 8), lambda: HRMConv(8, 12), lambda: RepDWConv(8)])
def test_reparam_training_form_matches_the_branches(make):
    """Training runs one conv with the kernel built from the branches: same outputs and gradients."""
    torch.manual_seed(0)
    m = make()
    x = torch.randn(2, m.in_ch, 9, 11)
    grads = []
    for forward in (m.forward, m.forward_branches):
        m.zero_grad()
        y = forward(x)
        (y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum().backward()
        grads.append((y.detach(), [p.grad.clone() for p in m.parameters()]))
    (y1, g1), (y2, g2) = grads
    assert (y1 - y2).abs().max() < 1e-4
    assert all((a - b).abs().max() < 1e-4 for a, b in zip(g1, g2))


def test_whole_chain_fuses_exactly(cfg):
    torch.manual_seed(0)
    chain = activate(RestorationChain(cfg)).eval()
    x, noise = torch.rand(3, 3, 64, 64), torch.randn(1, 64, 2, 2)
    before = chain(x, noise, steps=2)
    deploy_all(chain)
    assert (before - chain(x, noise, steps=2)).abs().max() < 1e-4


def test_cpu_inference_by_few_frames_is_the_whole_batch(cfg, monkeypatch):
    """`by_frames` splits the per-frame stages of CPU inference into cache-sized calls: the same frames come out, and
    only where nothing needs gradients (training runs the batch whole)."""
    import vidrestore.models.layers as L

    torch.manual_seed(0)
    chain = activate(RestorationChain(load_model_config("tiny", ALIGNED + ["decoder.pixel_head=true",
                                                                         "decoder.deblock_head=true"]))).eval()
    x, noise = torch.rand(6, 3, 64, 64), torch.randn(1, 64, 2, 2)
    with torch.no_grad():
        whole = chain(x, noise, steps=1)
    calls = []
    real = L.by_frames

    def counting(fn, t):
        calls.append(t.shape[0])
        return real(fn, t)

    monkeypatch.setattr(L, "CPU_CHUNK_ELEMENTS", 3 * 64 * 64)  # ~one frame per call
    for mod in ("vidrestore.models.decoder", "vidrestore.models.lpvae"):
        monkeypatch.setattr(f"{mod}.by_frames", counting)
    with torch.no_grad():
        split = chain(x, noise, steps=1)
    assert calls and max(calls) == 6  # the chunked stages saw the whole window ...
    torch.testing.assert_close(split, whole, atol=1e-6, rtol=0)  # ... and ran it in pieces to the same frames
    seen = []
    real(lambda t: seen.append(t.shape[0]) or t, x)  # with gradients (training): the batch whole
    with torch.no_grad():
        real(lambda t: seen.append(t.shape[0]) or t, x)
    assert seen == [6, 1, 1, 1, 1, 1, 1]


def test_temporal_layers_are_identity_at_init(cfg):
    vae = LPVAE(cfg.vae).eval()
    dec = TemporalPixelDecoder(cfg.vae, cfg.decoder).eval()
    dec.init_from_vae(vae)
    x = torch.rand(5, 3, 64, 64)
    z = vae.encode(x)
    with torch.no_grad():
        clip = dec(z, x, T=5)  # temporal layers see all five frames
        per_frame = dec(z, x, T=1)  # every frame on its own
    assert torch.equal(clip, per_frame)
    # ... and once trained (non-zero) they do mix frames
    activate(dec)
    with torch.no_grad():
        assert not torch.allclose(dec(z, x, T=5), dec(z, x, T=1))


def test_lq_branch_starts_as_copy_of_fine_encoder(cfg):
    vae = LPVAE(cfg.vae)
    dec = TemporalPixelDecoder(cfg.vae, cfg.decoder)
    dec.init_from_vae(vae)
    for k, v in dec.lq_branch.state_dict().items():
        assert torch.equal(v, vae.fine.state_dict()[k])


def test_dit_shapes_odd_latent_and_batch_independence(cfg):
    dit = activate(LatentDiT(cfg.dit)).eval()
    z = torch.randn(3, 64, 3, 5)
    t = torch.rand(3)
    with torch.no_grad():
        v = dit(z, t, z)
        assert v.shape == z.shape
        assert torch.allclose(dit(z[:1], t[:1], z[:1]), v[:1], atol=1e-5)


def test_qkcu_cache_does_not_leak_between_calls(cfg):
    dit = activate(LatentDiT(cfg.dit)).eval()
    a, b = torch.randn(1, 64, 4, 4), torch.randn(1, 64, 4, 4)
    t = torch.tensor([0.5])
    with torch.no_grad():
        fresh = dit(b, t, b)
        dit(a, t, a)
        again = dit(b, t, b)
    assert torch.equal(fresh, again)
    assert not any(isinstance(getattr(m, "cache", None), dict) for m in dit.modules())


def test_hmha_heads_are_unequal_and_cover_all_channels(cfg):
    ggsa = GGSA(64, 4, 4, hmha=True, head_split=[1, 2, 2, 3], qkcu=True)
    assert ggsa.widths == [8, 16, 16, 24]
    x = torch.randn(2, 8, 8, 64)
    assert ggsa(x, {}).shape == x.shape


def test_nvsm_attention_odd_sizes():
    m = activate(NVSMAttention(16, 4)).eval()
    x = torch.randn(2, 16, 5, 7)
    assert m(x).shape == x.shape


def test_unknown_config_key_is_named():
    with pytest.raises(ConfigError, match="widht"):
        load_model_config("tiny", overrides=["dit.widht=3"])


def test_parameter_counts(capsys):
    counts = {}
    for name in ("tiny", "base"):
        chain = RestorationChain(load_model_config(name))
        counts[name] = {part: sum(p.numel() for p in getattr(chain, part).parameters()) for part in ("vae", "dit", "pixel_decoder")}
        counts[name]["total"] = sum(counts[name].values())
    with capsys.disabled():
        print("\nparameter counts (M):", {n: {k: round(v / 1e6, 2) for k, v in c.items()} for n, c in counts.items()})
    assert counts["tiny"]["total"] < 12e6  # the fp16 weights file must stay under 25 MB (git)
    base = load_model_config("base")
    assert base.dit.width >= 768 and base.dit.depth >= 12


def test_residual_decoder_starts_as_the_identity(cfg):
    assert cfg.decoder.residual  # the tiny config decodes a correction of the degraded frame
    vae = LPVAE(cfg.vae).eval()
    dec = TemporalPixelDecoder(cfg.vae, cfg.decoder).eval()
    dec.init_from_vae(vae)
    lq = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        parts = dec(vae.encode(lq), lq, T=3, parts=True)
    assert torch.equal(parts["rgb"], lq) and torch.equal(parts["out"], lq)


def test_fallback_gate_cannot_saturate(cfg):
    dec = TemporalPixelDecoder(cfg.vae, cfg.decoder).eval()
    with torch.no_grad():
        dec.confidence[1].bias.fill_(-1e4)  # a head that wants to shut the gate completely
        dec.decoder.out[2].bias.fill_(0.5)
        parts = dec(torch.randn(2, 64, 2, 2), torch.rand(2, 3, 64, 64), T=2, parts=True)
    assert parts["m"].min() >= torch.sigmoid(torch.tensor(-6.0)) - 1e-7  # gradient still reaches the restoration path


def test_motion_gate_starts_as_the_plain_output_filter_and_sees_motion(cfg):
    plain = activate(TemporalPixelDecoder(cfg.vae, cfg.decoder)).eval()
    gated = TemporalPixelDecoder(cfg.vae, load_model_config("tiny", ["decoder.out_gate=true"]).decoder).eval()
    assert gated.load_state_dict(plain.state_dict(), strict=False).missing_keys  # only the gate is new
    z, lq = torch.randn(6, 64, 2, 2), torch.rand(6, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(gated(z, lq, T=3), plain(z, lq, T=3))  # zero-init gate: g = 1
        gate = MotionGate(48)
        gate.motion.weight.fill_(-10.0)  # a gate that shuts where frames differ
        still = torch.rand(1, 3, 32, 32).expand(3, 3, 32, 32)
        moving = torch.rand(3, 3, 32, 32)
        feat = torch.randn(3, 48, 8, 8)
        g_still, g_moving = gate(still, feat, T=3), gate(moving, feat, T=3)
    assert g_still.shape == (3, 1, 32, 32) and torch.allclose(g_still, torch.ones_like(g_still))
    assert g_moving.max() < 0.9 and g_moving.min() >= 0


def test_stack_neighbours_replicates_at_the_clip_ends():
    from vidrestore.models.decoder import stack_neighbours

    x = torch.arange(2 * 3, dtype=torch.float32).view(6, 1, 1, 1)  # 2 clips of 3 frames: values 0..5
    both = stack_neighbours(x, T=3, r=1)  # (6, 3, 1, 1): frames t-1, t, t+1
    assert both[:, :, 0, 0].tolist() == [[0, 0, 1], [0, 1, 2], [1, 2, 2], [3, 3, 4], [3, 4, 5], [4, 5, 5]]
    assert stack_neighbours(x, T=3, r=1, centre=False)[:, :, 0, 0].tolist() == [[0, 1], [0, 2], [1, 2], [3, 4], [3, 5], [4, 5]]


@pytest.mark.parametrize("overrides", [[], ["decoder.align=true", "decoder.lq_neighbour_frames=2"],
                                       ["decoder.align=true", "decoder.lq_neighbour_frames=2", "decoder.out_far=true"],
                                       ["decoder.align=true", "decoder.lq_neighbour_frames=2", "decoder.out_far=true",
                                        "decoder.pixel_head=true", "decoder.pixel_head_blocks=1"]])
def test_decoder_context_is_exactly_its_temporal_reach(cfg, overrides):
    """Frame 0's output changes with frame `context` and not with frame `context + 1`: the Restorer's
    temporal windows rely on this number."""
    dec = activate(TemporalPixelDecoder(cfg.vae, load_model_config("tiny", overrides).decoder)).eval()
    reach = dec.context
    assert reach >= 2  # LQ stem neighbours + spatio-temporal blocks
    T = reach + 2
    g = torch.Generator().manual_seed(0)
    lq, z = torch.rand(T, 3, 64, 64, generator=g), torch.randn(T, 64, 2, 2, generator=g)

    def frame0_after_changing(j):
        lq2 = lq.clone()
        lq2[j] = torch.rand(3, 64, 64, generator=g)
        with torch.no_grad():
            return dec(z, lq2, T=T)[0]

    with torch.no_grad():
        base = dec(z, lq, T=T)[0]
    assert not torch.equal(frame0_after_changing(reach), base)
    assert torch.equal(frame0_after_changing(reach + 1), base)


def test_aligned_decoder_reads_the_same_frames_on_a_still_clip(cfg):
    """Alignment only moves the neighbours: on a still clip every flow is zero, and the decoder with
    `align` gives the output of the same weights without it."""
    aligned_cfg = load_model_config("tiny", ["decoder.align=true", "decoder.out_gate=true"]).decoder
    aligned = activate(TemporalPixelDecoder(cfg.vae, aligned_cfg)).eval()
    plain = TemporalPixelDecoder(cfg.vae, load_model_config("tiny", ["decoder.out_gate=true"]).decoder).eval()
    plain.load_state_dict(aligned.state_dict())
    z = torch.randn(1, 64, 2, 2).expand(4, 64, 2, 2)
    lq = torch.rand(1, 3, 64, 64).expand(4, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(aligned(z, lq, T=4), plain(z, lq, T=4), atol=1e-5)


def test_far_output_filter_starts_as_a_no_op_and_needs_alignment(cfg):
    """`out_far` adds a zero-init conv over the aligned t-2, t+2: switched on over trained weights it
    changes nothing until it is trained; without `align` it is refused."""
    base = ["decoder.align=true", "decoder.lq_neighbour_frames=2", "decoder.out_gate=true"]
    plain = activate(TemporalPixelDecoder(cfg.vae, load_model_config("tiny", base).decoder)).eval()
    far = TemporalPixelDecoder(cfg.vae, load_model_config("tiny", base + ["decoder.out_far=true"]).decoder).eval()
    missing, unexpected = far.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("out_far.") for k in missing)
    g = torch.Generator().manual_seed(0)
    z, lq = torch.randn(5, 64, 2, 2, generator=g), torch.rand(5, 3, 64, 64, generator=g)
    with torch.no_grad():
        assert torch.equal(far(z, lq, T=5), plain(z, lq, T=5))
        far.out_far.weight.fill_(0.1)
        assert not torch.allclose(far(z, lq, T=5), plain(z, lq, T=5))
    with pytest.raises(ValueError, match="out_far needs decoder.align"):
        TemporalPixelDecoder(cfg.vae, load_model_config("tiny", ["decoder.out_far=true"]).decoder)
    # init_out_far moves weight from the centre tap to t-2, t+2: nothing changes on a still clip ...
    far.load_state_dict(plain.state_dict(), strict=False)
    far.init_out_far(0.5)
    assert far.out_far.weight.abs().sum() > 0
    still_z, still = z[:1].expand(5, -1, -1, -1), lq[:1].expand(5, -1, -1, -1)
    with torch.no_grad():
        assert torch.allclose(far(still_z, still, T=5), plain(still_z, still, T=5), atol=1e-6)
        # ... and a moving one now averages frames t-2, t+2 as well
        assert not torch.allclose(far(z, lq, T=5), plain(z, lq, T=5))


ALIGNED = ["decoder.align=true", "decoder.lq_neighbour_frames=2", "decoder.out_far=true"]


def switched_on(cfg, base: list[str], add_on: list[str]):
    """(plain, with_add_on, missing, unexpected): the decoder of `base` overrides with every path active, and the
    decoder with `add_on` switched on as well, loaded from the plain one's weights."""
    plain = activate(TemporalPixelDecoder(cfg.vae, load_model_config("tiny", base).decoder)).eval()
    other = TemporalPixelDecoder(cfg.vae, load_model_config("tiny", base + add_on).decoder).eval()
    missing, unexpected = other.load_state_dict(plain.state_dict(), strict=False)
    return plain, other, missing, unexpected


@pytest.mark.parametrize("aligned", [False, True])
def test_pixel_head_starts_as_a_no_op_and_refines_at_pixel_scale(cfg, aligned):
    """`pixel_head` adds a residual CNN at H/2 after the output filter: switched on over trained weights
    it changes nothing until trained; once trained its correction varies within a 4x4 block (which the
    H/4 decoder levels decode from one feature vector) and reads the (aligned) neighbours."""
    plain, head, missing, unexpected = switched_on(cfg, ALIGNED if aligned else [], [
        "decoder.pixel_head=true", "decoder.pixel_head_channels=16", "decoder.pixel_head_blocks=2"])
    assert not unexpected and missing and all(k.startswith("pixel_head.") for k in missing)
    assert head.pixel_head.inp[1].in_channels == 4 * (6 + (12 if aligned else 6))  # out, lq, the filter's neighbours
    g = torch.Generator().manual_seed(0)
    z, lq = torch.randn(5, 64, 2, 2, generator=g), torch.rand(5, 3, 64, 64, generator=g)
    with torch.no_grad():
        assert torch.equal(head(z, lq, T=5), plain(z, lq, T=5))
        torch.nn.init.normal_(head.pixel_head.out[0].weight, std=0.1, generator=g)
        delta = head(z, lq, T=5) - plain(z, lq, T=5)
        assert delta.abs().mean() > 1e-3
        block = delta[:, :, :4, :4]  # one 4x4 block of pixels: the head's correction differs inside it
        assert (block - block.mean(dim=(2, 3), keepdim=True)).abs().max() > 1e-4
        lq2 = lq.clone()
        lq2[3] = torch.rand(3, 64, 64, generator=g)  # frame t+1 of frame 2
        changed = head(z, lq2, T=5)[2] - head(z, lq, T=5)[2]
        changed_plain = plain(z, lq2, T=5)[2] - plain(z, lq, T=5)[2]
        assert not torch.allclose(changed, changed_plain)  # the head itself reads the neighbour


@pytest.mark.parametrize("aligned,r", [(False, 1), (True, 1), (True, 2)])
def test_deblock_head_starts_as_a_no_op_and_is_what_the_gate_falls_back_to(cfg, aligned, r):
    """`deblock_head` changes the fallback target from lq to lq + a correction read from frames t-r..t+r
    (r = deblock_frames): switched on over trained weights it changes nothing until trained; where the gate shuts,
    the output is that target; it reads the (aligned) neighbours; and it needs the fallback gate."""
    plain, head, missing, unexpected = switched_on(cfg, ALIGNED if aligned else [], [
        "decoder.deblock_head=true", "decoder.deblock_head_channels=8", "decoder.deblock_head_blocks=1", f"decoder.deblock_frames={r}"])
    assert head.align_radius == (2 if aligned else 0) and head.context == plain.context
    assert not unexpected and missing and all(k.startswith("deblock_head.") for k in missing)
    g = torch.Generator().manual_seed(0)
    smooth = lambda: F.interpolate(torch.rand(5, 3, 8, 8, generator=g), size=(64, 64), mode="bilinear")  # noqa: E731
    z, lq = torch.randn(5, 64, 2, 2, generator=g), smooth()  # no visible noise: the head's domain
    with torch.no_grad():
        assert torch.equal(head(z, lq, T=5), plain(z, lq, T=5))
        torch.nn.init.normal_(head.deblock_head.out[0].weight, std=0.1, generator=g)
        parts = head(z, lq, T=5, parts=True)
        assert (parts["base"] - lq).abs().mean() > 1e-3
        head.confidence[1].bias.fill_(-1e4)  # the gate shuts (as far as its clamp lets it)
        for conv in (head.out_temporal, head.out_far):  # (and no output filter / far filter after it)
            if conv is not None:
                conv.weight.zero_()
                conv.bias.zero_()
        parts = head(z, lq, T=5, parts=True)
        m = parts["m"]
        assert torch.allclose(parts["out"], parts["base"] + m * (parts["rgb"] - parts["base"]), atol=1e-6)
        assert (parts["out"] - parts["base"]).abs().max() < 0.01
        lq2 = lq.clone()
        lq2[3] = smooth()[0]  # frame t+1 of frame 2
        assert not torch.equal(head.deblocked(lq2, 5)[2], head.deblocked(lq, 5)[2])  # it reads the neighbour
        assert torch.equal(head.deblocked(lq2, 5)[0], head.deblocked(lq, 5)[0])  # and only t-r..t+r
        assert torch.equal(head.deblocked(lq2, 5)[1], head.deblocked(lq, 5)[1]) == (r == 1)  # t+2: with r = 2
        noisy = (lq + 25 / 255 * torch.randn(lq.shape, generator=g)).clamp(0, 1)
        assert torch.equal(head.deblocked(noisy, 5), noisy)  # off on visible noise (the head does not even run)
        mixed = torch.cat([noisy[:2], lq[2:]])  # per frame: the noisy ones pass unchanged
        out = head.deblocked(mixed, 5)
        assert torch.equal(out[:2], noisy[:2]) and (out[2:] - lq[2:]).abs().mean() > 1e-3
        with torch.autocast("cpu", dtype=torch.bfloat16):  # mixed precision: the head runs in bf16, lq stays fp32
            assert torch.allclose(head.deblocked(mixed, 5), out, atol=0.02)
    with pytest.raises(ValueError, match="needs decoder.fallback"):
        TemporalPixelDecoder(cfg.vae, load_model_config("tiny", ["decoder.deblock_head=true", "decoder.fallback=false"]).decoder)
    with pytest.raises(ValueError, match="deblock_frames must be 1 or 2"):
        TemporalPixelDecoder(cfg.vae, load_model_config("tiny", ["decoder.deblock_head=true", "decoder.deblock_frames=3"]).decoder)


def test_temporal_mean_weighs_each_neighbour_by_how_well_it_agrees():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 24, 24, generator=g)
    h2 = 0.04**2
    assert torch.allclose(temporal_mean(x, torch.cat([x, x], 1), h2), x, atol=1e-6)
    far = (x + 0.5) % 1  # misaligned / occluded: d ~ 0.1-0.25 >> h2, its weight ~ 0
    assert torch.allclose(temporal_mean(x, torch.cat([far, far], 1), h2), x, atol=1e-6)
    near = (x + 0.01 * torch.randn(x.shape, generator=g), x + 0.01 * torch.randn(x.shape, generator=g))
    out = temporal_mean(x, torch.cat(near, 1), h2)  # d ~ 1e-4: weights exp(-1/16) ~ 0.94, nearly the plain mean
    mean = (x + near[0] + near[1]) / 3
    assert (out - mean).abs().max() < 0.002 < (x - mean).abs().max()
    both = temporal_mean(x, torch.cat([near[0], far], 1), h2)  # the agreeing one counts, the other drops out
    assert torch.allclose(both, (x + near[0]) / 2, atol=0.001)
    # per pixel: h2 = 0 (where the deblock head corrected nothing) leaves the frame as it is
    h2map = torch.full((2, 1, 24, 24), h2)
    h2map[..., :12] = 0
    part = temporal_mean(x, torch.cat(near, 1), h2map)
    assert torch.equal(part[..., :10], x[..., :10]) and torch.allclose(part[..., 14:], out[..., 14:], atol=1e-6)
    c = torch.zeros(2, 3, 24, 24)
    c[..., 12:] = 2 / 255  # a correction of 2/255 on the right half: h2 = kappa (2/255)^2 there, capped at h_max^2
    s = deblock_scale(c, 4.0, 0.04)
    assert s.shape == (2, 1, 24, 24) and (s[..., :7] == 0).all() and torch.allclose(s[..., 17:], torch.tensor(4 * (2 / 255) ** 2))
    assert torch.allclose(deblock_scale(c, 1e4, 0.04)[..., 17:], torch.tensor(0.04**2))


def test_deblock_temporal_averages_the_frames_the_deblock_head_runs_on(cfg):
    """decoder.deblock_temporal = kappa: on frames whose deblock weight w > 0 the output moves by w towards its
    temporal_mean with the neighbours t-2..t+2 warped by the decoder's own flows, at the scale deblock_scale sets from
    the head's correction; on noisy frames (w = 0) and at kappa = 0 it is the output as it was (no weights of its own)."""
    heads = ["decoder.deblock_head=true", "decoder.deblock_head_channels=8", "decoder.deblock_head_blocks=1"]
    plain, filt, missing, unexpected = switched_on(cfg, ALIGNED + heads, ["decoder.deblock_temporal=1e4",
                                                                          "decoder.deblock_temporal_max=1.0"])
    assert not missing and not unexpected and filt.context == plain.context
    g = torch.Generator().manual_seed(1)
    still = F.interpolate(torch.rand(1, 3, 8, 8, generator=g), size=(64, 64), mode="bilinear")
    smooth = (still + 0.01 * torch.randn(5, 3, 64, 64, generator=g)).clamp(0, 1)  # a still scene, errors per frame: w = 1
    noisy = (smooth + 25 / 255 * torch.randn(smooth.shape, generator=g)).clamp(0, 1)  # w = 0
    z = torch.randn(5, 64, 2, 2, generator=g)
    with torch.no_grad():
        torch.nn.init.normal_(plain.deblock_head.out[0].weight, std=0.1, generator=g)
        filt.load_state_dict(plain.state_dict())
        parts = plain(z, smooth, T=5, parts=True)
        out = parts["out"]
        nb = warp_neighbours(out, 5, neighbour_flows(smooth, 5, 2, plain.cfg.align_search))
        expected = temporal_mean(out, nb, deblock_scale(parts["base"] - smooth, 1e4, 1.0))
        assert torch.allclose(filt(z, smooth, T=5), expected, atol=1e-5) and (expected - out).abs().mean() > 1e-4
        assert torch.equal(filt(z, noisy, T=5), plain(z, noisy, T=5))
        mixed = torch.cat([noisy[:2], smooth[2:]])
        assert torch.equal(filt(z, mixed, T=5)[:2], plain(z, mixed, T=5)[:2])
    for bad, match in ((["decoder.deblock_temporal=4"], "needs decoder.deblock_head and decoder.align"),
                       (heads + ["decoder.deblock_temporal=4"], "needs decoder.deblock_head and decoder.align"),
                       (ALIGNED + heads + ["decoder.deblock_temporal=-1"], "must be >= 0")):
        with pytest.raises(ValueError, match=match):
            TemporalPixelDecoder(cfg.vae, load_model_config("tiny", bad).decoder)


def test_noise_estimate_and_the_deblock_weight():
    g = torch.Generator().manual_seed(0)
    clean = F.interpolate(torch.rand(4, 3, 16, 16, generator=g), size=(128, 128), mode="bicubic").clamp(0, 1)
    for sigma in (5, 10, 25):
        noisy = clean + sigma / 255 * torch.randn(clean.shape, generator=g)
        assert torch.allclose(estimate_noise(noisy) * 255, torch.full((4,), float(sigma)), rtol=0.1)
    assert (estimate_noise(clean) * 255 < 2).all()  # well below the weight's lower end (4)
    frames = torch.stack([clean[0] + s / 255 * torch.randn(clean[0].shape, generator=g) for s in (0, 6, 12)])
    w = deblock_weight(frames, 4.0, 8.0)
    assert w.shape == (3, 1, 1, 1) and w[0] == 1 and 0 < w[1] < 1 and w[2] == 0
    assert estimate_noise(torch.rand(2, 3, 33, 17)).shape == (2,)  # odd sizes


@pytest.mark.parametrize("spatial", [1, 3])
def test_temporal_block_reach_in_space(spatial):
    """(k,3,3) kernels let frame t read its neighbours' features one pixel away (content that moved);
    (k,1,1) kernels only read the same pixel."""
    from vidrestore.models.decoder import TemporalResBlock

    block = activate(TemporalResBlock(4, 3, spatial), std=0.5).eval()
    x = torch.randn(2, 4, 6, 6)
    x2 = x.clone()
    x2[1, :, 3, 3] += 1.0  # frame 1 changes at one pixel
    with torch.no_grad():
        diff = (block(x2, T=2)[0] - block(x, T=2)[0]).abs().sum(0)  # frame 0's change
    assert diff[3, 3] > 0
    assert (diff[2, 3] > 0) == (spatial == 3) and (diff[3, 4] > 0) == (spatial == 3)
    assert diff[1, 3] == 0  # one block reaches one pixel
