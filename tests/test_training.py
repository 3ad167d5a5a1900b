"""The training stack end to end on tiny generated data (CPU, seconds per stage)."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from omegaconf import OmegaConf
from safetensors.torch import load_file

from training import common as C
from training import export_checkpoint, finetune_decoder, train_deblock, train_dit, train_vae
from training.losses import Perceptual, log_mse_loss, no_harm_loss
from vidrestore import Restorer
from vidrestore import weights_io as W
from vidrestore.errors import ConfigError

SCRIPTS = {"vae": train_vae, "dit": train_dit, "decoder": finetune_decoder, "deblock": train_deblock}


@pytest.fixture(scope="module")
def image_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    (root / "imgs").mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        small = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
        Image.fromarray(small).resize((96, 96), Image.BICUBIC).save(root / "imgs" / f"{i}.png")
    return root


def run(script: str, image_root, run_dir, *overrides, fixed_clip=False):
    """Run one training script in-process with tiny settings; returns the logged records."""
    argv = [f"run_dir={run_dir}", "device=cpu", "workers=0", "batch_size=2", "log_every=1", "progress=false",
            "tensorboard=false", f"data.root={image_root}", "data.train=[{path: imgs, kind: images}]",
            "data.val=[{path: imgs, kind: images}]", "data.size=[64,64]", "val_batches=1",
            "data.degradation.compression.p_codec=0.5", "data.degradation.compression.codecs=[libx264]",
            "data.degradation.compression.codec_weights=[1.0]"]
    if script != "vae":
        argv.append("data.frames=2")
    if fixed_clip:  # every step sees item 0: the same clip and the same degradation
        argv.append("data.samples_per_epoch=1")
    mod = SCRIPTS[script]
    mod.main(C.parse_config(mod.__doc__, mod.DEFAULT, argv + list(overrides)))
    return [json.loads(line) for line in (run_dir / "log.txt").read_text().splitlines()]


@pytest.fixture(scope="module")
def chain_runs(image_root, tmp_path_factory):
    """All four stages, two steps each, every stage starting from the previous export."""
    d = tmp_path_factory.mktemp("runs")
    run("vae", image_root, d / "vae1", "stage=1", "steps=2")
    run("vae", image_root, d / "vae2", "stage=2", f"init={d / 'vae1/export.safetensors'}", "steps=2")
    run("dit", image_root, d / "dit", f"init={d / 'vae2/export.safetensors'}", "steps=2", "latent_stats_batches=2")
    run("decoder", image_root, d / "decoder", f"init={d / 'dit/export.safetensors'}", "steps=2", "loss.gan_start=0",
        "val_every=2")
    return d


def test_each_stage_writes_loadable_checkpoint_and_export(chain_runs):
    for stage in ("vae1", "vae2", "dit", "decoder"):
        assert (chain_runs / stage / "ckpt" / "latest").is_file()
        assert (chain_runs / stage / "ckpt" / "step_00000002.yaml").is_file()  # resolved config beside it
        _, _, meta = W.load(chain_runs / stage / "export.safetensors")
        assert meta["stages"].split(",")[-1] == stage
    # only the last stage of a complete chain is marked trained; it loads as a Restorer
    r = Restorer.from_pretrained(chain_runs / "decoder" / "export.safetensors", device="cpu", tile=64, window=2)
    assert r.restore(torch.rand(2, 3, 40, 50)).shape == (2, 3, 40, 50)
    with pytest.raises(Exception, match="untrained"):
        Restorer.from_pretrained(chain_runs / "dit" / "export.safetensors")


def test_latent_statistics_are_estimated_and_saved(chain_runs):
    state, _, _ = W.load(chain_runs / "dit" / "export.safetensors")
    assert not torch.equal(state["vae.latent_std"], torch.ones(64))


def test_decoder_finetuning_keeps_encoders_and_dit_frozen(chain_runs):
    before, _, _ = W.load(chain_runs / "dit" / "export.safetensors")
    after, _, _ = W.load(chain_runs / "decoder" / "export.safetensors")
    for k in before:
        if k.startswith(("vae.", "dit.")):
            assert torch.equal(before[k], after[k]), k
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("pixel_decoder."))


@pytest.mark.parametrize("stage", ["vae1", "dit", "decoder"])
def test_overfitting_one_clip_lowers_the_loss(stage, chain_runs, image_root, tmp_path):
    args = {"vae1": ("vae", "stage=1", "lr=1e-3"),
            "dit": ("dit", f"init={chain_runs / 'vae2/export.safetensors'}", "latent_stats_batches=1", "lr=1e-3"),
            "decoder": ("decoder", f"init={chain_runs / 'dit/export.safetensors'}", "lr=1e-3", "latent=clean")}[stage]
    log = run(args[0], image_root, tmp_path / stage, *args[1:], "steps=30", "checkpoint_every=1000", fixed_clip=True)
    first = np.mean([r["loss"] for r in log[:3]])
    last = np.mean([r["loss"] for r in log[-3:]])
    assert last < 0.7 * first, (first, last)


@pytest.mark.parametrize("stage", ["vae1", "dit", "decoder"])
def test_resume_reproduces_the_next_steps(stage, chain_runs, image_root, tmp_path):
    script, extra = {"vae1": ("vae", ["stage=1", "loss.gan_start=1"]),
                     "dit": ("dit", [f"init={chain_runs / 'vae2/export.safetensors'}", "latent_stats_batches=1"]),
                     "decoder": ("decoder", [f"init={chain_runs / 'dit/export.safetensors'}", "loss.gan_start=1"])}[stage]
    whole = run(script, image_root, tmp_path / "whole", *extra, "steps=4", "checkpoint_every=2")
    run(script, image_root, tmp_path / "cut", *extra, "steps=2", "checkpoint_every=2")
    resumed = run(script, image_root, tmp_path / "cut", *extra, "steps=4", "checkpoint_every=2", "resume=auto")
    assert [r["step"] for r in resumed] == [1, 2, 3, 4]
    for a, b in zip(whole[2:], resumed[2:]):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5, abs=1e-6)


def test_bad_options_are_clear(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="stepz"):
        C.parse_config(train_vae.__doc__, train_vae.DEFAULT, ["stepz=3"])
    with pytest.raises(SystemExit):
        C.parse_config(train_vae.__doc__, train_vae.DEFAULT, ["notakeyvalue"])
    with pytest.raises(ConfigError, match="precision must be one of fp32, tf32"):
        C.setup_env(C.parse_config(train_vae.__doc__, train_vae.DEFAULT, ["precision=fp8", "device=cpu"]))
    if not torch.cuda.is_available():  # a GPU recipe run on a machine without one
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            C.setup_env(C.parse_config(train_vae.__doc__, train_vae.DEFAULT, ["device=cuda"]))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(ConfigError, match="alexnet-owt"):
        Perceptual("lpips_alex")


@pytest.mark.filterwarnings("ignore:CUDA is not available:UserWarning")  # the bf16 context is built, not entered
def test_tf32_keeps_fp32_weights_and_activations():
    from contextlib import nullcontext


    gpu = C.Env(torch.device("cuda"))  # autocast is only chosen here, never entered: no GPU needed
    assert isinstance(C.autocast(OmegaConf.create({"precision": "tf32"}), gpu), nullcontext)
    assert not isinstance(C.autocast(OmegaConf.create({"precision": "bf16"}), gpu), nullcontext)
    cfg = C.parse_config(train_vae.__doc__, train_vae.DEFAULT, ["precision=tf32", "device=cpu"])
    try:
        assert C.setup_env(cfg).device.type == "cpu" and torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32 = False


def test_help_documents_the_options(capsys):
    with pytest.raises(SystemExit):
        C.parse_config(finetune_decoder.__doc__, finetune_decoder.DEFAULT, ["--help"])
    out = capsys.readouterr().out
    for key in ("latent:", "perceptual:", "gan_weight:", "temporal:", "resume:", "torchrun"):
        assert key in out


def test_reset_decoder_keeps_vae_and_dit_and_builds_the_configured_decoder(chain_runs, image_root, tmp_path):
    init = chain_runs / "dit" / "export.safetensors"
    change = "model_overrides=['decoder.refine_blocks=[0,0,1,1]']"
    with pytest.raises(ConfigError, match="reset_decoder"):  # the saved decoder does not fit the new architecture
        run("decoder", image_root, tmp_path / "no_reset", f"init={init}", change, "steps=1")
    run("decoder", image_root, tmp_path / "reset", f"init={init}", change, "reset_decoder=true", "steps=1")
    before, _, _ = W.load(init)
    after, cfg, _ = W.load(tmp_path / "reset" / "export.safetensors")
    assert list(cfg.decoder.refine_blocks) == [0, 0, 1, 1]
    for k in before:
        if k.startswith(("vae.", "dit.")):
            assert torch.equal(before[k], after[k]), k


def test_learning_rate_schedule():

    cfg = OmegaConf.create({"lr": 1e-3, "lr_min": 1e-5, "warmup_steps": 10, "steps": 110, "lr_schedule": "cosine"})
    assert C.lr_at(cfg, 5) == pytest.approx(5e-4)
    assert C.lr_at(cfg, 10) == pytest.approx(1e-3)
    assert C.lr_at(cfg, 60) == pytest.approx((1e-3 + 1e-5) / 2)
    assert C.lr_at(cfg, 110) == pytest.approx(1e-5)
    assert C.lr_at(OmegaConf.merge(cfg, {"lr_schedule": "constant"}), 100) == pytest.approx(1e-3)
    with pytest.raises(ConfigError, match="lr_schedule"):
        C.lr_at(OmegaConf.merge(cfg, {"lr_schedule": "step"}), 50)


def test_a_no_op_add_on_can_be_switched_on_and_a_checkpoint_exported(chain_runs, image_root, tmp_path):
    init = chain_runs / "decoder" / "export.safetensors"
    run("decoder", image_root, tmp_path / "gate", f"init={init}",
        "model_overrides=[decoder.out_gate=true,decoder.align=true,decoder.lq_neighbour_frames=2,decoder.out_far=true,"
        "decoder.pixel_head=true,decoder.pixel_head_channels=8,decoder.pixel_head_blocks=1]",
        "out_far_init=0.5", "steps=2", "lr_fresh_mult=5", "lr_mults.temporal=2",
        "checkpoint_every=1", "loss.no_harm=0.05")
    ckpt = tmp_path / "gate" / "ckpt" / "step_00000001.safetensors"
    out = export_checkpoint.export(ckpt, tmp_path / "step1.safetensors", dtype="fp32", inference_steps=3, window=7, window_overlap=3)
    state, cfg, meta = W.load(out)
    assert (cfg.inference.window, cfg.inference.window_overlap) == (7, 3)
    assert cfg.decoder.out_gate and cfg.inference.steps == 3 and meta["steps"] == "1" and any(k.startswith("pixel_decoder.out_gate.") for k in state)
    assert cfg.decoder.align and any(k.startswith("pixel_decoder.lq_far_stem.") for k in state)
    assert cfg.decoder.out_far and state["pixel_decoder.out_far.weight"].abs().sum() > 0  # out_far_init
    assert cfg.decoder.pixel_head and state["pixel_decoder.pixel_head.out.0.weight"].abs().sum() > 0  # trained
    with safe_open(str(ckpt), framework="pt") as f:  # the add-ons switched on over init learn at lr_fresh_mult x the LR,
        groups = {g["lr_mult"]: g for g in json.loads(f.metadata()["optim.g"])["param_groups"]}  # the parts in lr_mults at theirs
    assert sorted(groups) == [1.0, 2.0, 5.0] and groups[5.0]["lr"] == pytest.approx(5 * groups[1.0]["lr"])
    assert len(groups[5.0]["params"]) == sum(1 for k in state if k.startswith(("pixel_decoder.out_gate.", "pixel_decoder.lq_far_stem.",
                                                                               "pixel_decoder.out_far.", "pixel_decoder.pixel_head.")))
    assert len(groups[2.0]["params"]) == sum(1 for k in state if k.startswith("pixel_decoder.temporal."))
    ema = {k[len("ema.decoder."):]: v for k, v in load_file(str(ckpt)).items() if k.startswith("ema.decoder.")}
    for k, v in ema.items():
        assert torch.equal(state[f"pixel_decoder.{k}"], v.to(state[f"pixel_decoder.{k}"].dtype)), k
    Restorer.from_pretrained(out, allow_untrained=True)  # the inference side loads it
    with pytest.raises(ConfigError, match="no part 'head'"):
        run("decoder", image_root, tmp_path / "typo", f"init={init}", "steps=1", "lr_mults.head=5")
    with pytest.raises(ConfigError, match="not found"):
        export_checkpoint.export(tmp_path / "nope.safetensors", tmp_path / "x.safetensors")
    with pytest.raises(ConfigError, match="inference-steps"):
        export_checkpoint.export(ckpt, tmp_path / "x.safetensors", inference_steps=0)
    with pytest.raises(ConfigError, match="smaller than the window"):
        export_checkpoint.export(ckpt, tmp_path / "x.safetensors", window=4, window_overlap=4)


def test_deblock_head_trains_alone_from_a_clip_pool_and_the_rest_stays_as_init(chain_runs, image_root, tmp_path):
    init = chain_runs / "decoder" / "export.safetensors"
    pool = tmp_path / "pool.safetensors"
    small = "model_overrides=[decoder.deblock_head=true,decoder.deblock_head_channels=8,decoder.deblock_head_blocks=1]"
    args = [f"init={init}", small, "data.frames=3", "pool=3", "crop=32", f"pool_cache={pool}", "export_dtype=fp32"]
    records = run("deblock", image_root, tmp_path / "a", *args, "steps=4", "checkpoint_every=2", "val_every=4")
    assert pool.is_file()
    state, cfg, meta = W.load(tmp_path / "a" / "export.safetensors")
    init_state, _, init_meta = W.load(init)
    assert cfg.decoder.deblock_head and meta["stages"].endswith(",deblock") and meta["trained"] == init_meta["trained"]
    assert state["pixel_decoder.deblock_head.out.0.weight"].abs().sum() > 0  # learned from its zero start
    assert set(state) - set(init_state) == {k for k in state if k.startswith("pixel_decoder.deblock_head.")}
    assert all(torch.equal(state[k], v) for k, v in init_state.items())  # everything else exactly as init
    assert any("val/h264_crf37/psnr" in r and "val/h264_crf37/psnr_lq" in r for r in records)
    # a resumed run (the pool read back from its cache) reproduces the uninterrupted one
    run("deblock", image_root, tmp_path / "b", *args, "steps=2", "checkpoint_every=2")
    run("deblock", image_root, tmp_path / "b", *args, "steps=4", "checkpoint_every=2", "resume=auto")
    resumed, _, _ = W.load(tmp_path / "b" / "export.safetensors")
    assert all(torch.equal(resumed[k], state[k]) for k in state if "deblock_head" in k)
    Restorer.from_pretrained(tmp_path / "a" / "export.safetensors", allow_untrained=True)  # the inference side loads it
    with pytest.raises(ConfigError, match="another pool"):
        run("deblock", image_root, tmp_path / "c", *args[:-3], "pool=2", f"pool_cache={pool}", "steps=1")
    with pytest.raises(ConfigError, match="another pool"):  # the same size drawn from later clips
        run("deblock", image_root, tmp_path / "c", *args[:-1], "pool_offset=3", "steps=1")
    offset = tmp_path / "offset.safetensors"
    run("deblock", image_root, tmp_path / "h", *args[:-2], f"pool_cache={offset}", "pool_offset=3", "steps=1")
    assert not torch.equal(load_file(offset)["lq"], load_file(pool)["lq"])  # clips 3..5, not 0..2
    with pytest.raises(ConfigError, match="loss must be one of"):
        run("deblock", image_root, tmp_path / "d", *args, "loss=l3", "steps=1")
    with pytest.raises(ConfigError, match="crop must be even"):
        run("deblock", image_root, tmp_path / "d", *args[:-3], "crop=31", "steps=1")
    with pytest.raises(ConfigError, match="needs >= 3 frames|need >= 3 frames"):
        run("deblock", image_root, tmp_path / "e", *args[:2], "data.frames=2", "pool=2", "crop=32", "steps=1")
    # a deeper head (model_overrides raise deblock_head_blocks over init's): the appended blocks start as identities,
    # so the chain computes what the trained head did, and they learn from there
    a = tmp_path / "a" / "export.safetensors"
    overrides = ["decoder.deblock_head=true", "decoder.deblock_head_channels=8", "decoder.deblock_head_blocks=3"]
    head = lambda over: C.build_chain(OmegaConf.create({"init": str(a), "model_overrides": over}),  # noqa: E731
                                      C.Env(torch.device("cpu"))).pixel_decoder.deblock_head
    shallow_head, deep_head = head([]), head(overrides)
    assert len(deep_head.body) == 3 and all(p.abs().sum() == 0 for p in deep_head.body[2].conv2.parameters())
    x = torch.rand(2, 9, 16, 16)
    with torch.no_grad():
        assert torch.equal(deep_head(x), shallow_head(x)) and deep_head(x).abs().sum() > 0
    run("deblock", image_root, tmp_path / "deep", f"init={a}", f"model_overrides=[{','.join(overrides)}]", *args[2:], "steps=2")
    state, cfg, _ = W.load(tmp_path / "deep" / "export.safetensors")
    assert cfg.decoder.deblock_head_blocks == 3 and state["pixel_decoder.deblock_head.body.2.conv2.conv3.weight"].abs().sum() > 0
    # deblock_frames=2: a head reading t-2..t+2 trains on crops of five frames
    five = [f"init={init}", small.replace("]", ",decoder.deblock_frames=2]")]
    with pytest.raises(ConfigError, match="need >= 5 frames"):
        run("deblock", image_root, tmp_path / "f", *five, "data.frames=3", "pool=2", "crop=32", "steps=1")
    run("deblock", image_root, tmp_path / "g", *five, "data.frames=5", "pool=2", "crop=32", "steps=2", "export_dtype=fp32")
    state, cfg, _ = W.load(tmp_path / "g" / "export.safetensors")
    assert cfg.decoder.deblock_frames == 2 and state["pixel_decoder.deblock_head.inp.1.weight"].shape[1] == 4 * 15


def test_deblock_losses_charbonnier_is_robust_mse_is_what_psnr_measures_hybrid_takes_each_where_it_fits():
    gt = torch.zeros(1, 3, 4, 4)
    base = gt.clone()
    base[0, 0, 0, 0] = 0.5  # one large error among 47 exact pixels
    charb = train_deblock.head_loss(base, gt, OmegaConf.create({"charbonnier_eps": 1e-3}))  # the default loss
    mse = train_deblock.head_loss(base, gt, OmegaConf.create({"loss": "mse", "charbonnier_eps": 1e-3}))
    assert mse.item() == pytest.approx(0.25 / 48)
    assert charb.item() == pytest.approx((0.5 + 47e-3) / 48, rel=1e-3)  # ~|error|: the outlier weighs linearly
    hybrid = OmegaConf.create({"loss": "hybrid", "charbonnier_eps": 1e-3, "hybrid_scale": 0.04})
    two = torch.cat([base, base])  # a degraded crop, then a clean one (its input was the target)
    mixed = train_deblock.head_loss(two, torch.cat([gt, gt]), hybrid, clean=torch.tensor([False, True]))
    assert mixed.item() == pytest.approx((0.25 / 0.08 / 48 + charb.item()) / 2, rel=1e-4)


def test_deblock_crops_take_2r_plus_1_frames_and_a_clean_share_reads_the_clean_ones():
    g = torch.Generator().manual_seed(0)
    pool = {"gt": torch.randint(0, 256, (3, 5, 3, 16, 16), dtype=torch.uint8, generator=g)}
    pool["lq"] = pool["gt"] // 2
    lq, gt = train_deblock.crops(pool, 6, 8, torch.Generator().manual_seed(1))
    assert lq.shape == (18, 3, 8, 8) and gt.shape == (6, 3, 8, 8)
    assert torch.equal((lq[1::3] * 255).round(), ((gt * 255).round() // 2))  # frame t of the degraded clip, under gt's frame t
    lq, gt = train_deblock.crops(pool, 6, 8, torch.Generator().manual_seed(1), clean_share=1.0)
    assert train_deblock.crops(pool, 6, 8, torch.Generator().manual_seed(1), clean_share=1.0, with_clean=True)[2].all()
    assert torch.equal(lq[1::3], gt)  # every crop clean: the target is the input
    lq, gt = train_deblock.crops(pool, 6, 8, torch.Generator().manual_seed(1), r=2)  # frames t-2..t+2 (t = 2 of 5)
    assert lq.shape == (30, 3, 8, 8) and torch.equal((lq[2::5] * 255).round(), ((gt * 255).round() // 2))
    crop = (lq[:5] * 255).round().to(torch.uint8)  # the first crop: frames 0..4 of one clip, in order, at one place
    assert any(torch.equal(pool["lq"][i, :, :, y:y + 8, x:x + 8], crop) for i in range(3) for y in range(9) for x in range(9))


def test_no_harm_loss_only_punishes_clips_made_worse_than_their_input():
    g = torch.Generator().manual_seed(0)
    gt = torch.rand(3, 2, 3, 8, 8, generator=g)
    noisy = gt + 0.1 * torch.randn(gt.shape, generator=g)        # clip 0: heavily degraded input
    mild = gt + 0.01 * torch.randn(gt.shape, generator=g)        # clip 1: lightly degraded input
    lq = torch.stack([noisy[0], mild[1], gt[2]])                  # clip 2: clean input
    better = gt + 0.005 * torch.randn(gt.shape, generator=g)     # beats every input but the clean one
    assert no_harm_loss(better[:2], lq[:2], gt[:2]) == 0
    out = (gt + 0.05 * torch.randn(gt.shape, generator=g)).requires_grad_(True)  # helps clip 0, harms 1 and 2
    loss = no_harm_loss(out, lq, gt)
    per_clip = torch.relu(torch.log((out - gt).pow(2).flatten(1).mean(1) + 1e-6)
                          - torch.log((lq - gt).pow(2).flatten(1).mean(1) + 1e-6))
    assert per_clip[0] == 0 and per_clip[1] > 0 and per_clip[2] > per_clip[1]
    assert torch.allclose(loss, per_clip.mean())
    loss.backward()
    assert out.grad[0].abs().sum() == 0 and out.grad[1].abs().sum() > 0 and torch.isfinite(out.grad).all()


def test_train_parts_fits_only_the_named_parts(chain_runs, image_root, tmp_path):
    init = chain_runs / "decoder" / "export.safetensors"
    run("decoder", image_root, tmp_path / "gate", f"init={init}", "steps=2", "train_parts=[confidence]",
        "loss.psnr=1.0", "lr=1e-2", "ema_decay=0", "loss.gan_start=0")  # the GAN's adaptive weight with the decoder frozen
    before, after = W.load(init)[0], W.load(tmp_path / "gate" / "export.safetensors")[0]
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("pixel_decoder.confidence.") for k in changed), changed
    with pytest.raises(ConfigError, match="no part 'gate'"):
        run("decoder", image_root, tmp_path / "typo", f"init={init}", "steps=1", "train_parts=[confidence,gate]")


def test_training_through_the_guided_refinement_and_storing_it_in_the_file(chain_runs, image_root, tmp_path, capsys,
                                                                           monkeypatch):
    from training import set_inference, tune_refine

    calls, real = [], finetune_decoder.guided_refine
    monkeypatch.setattr(finetune_decoder, "guided_refine", lambda *a: calls.append(a[2:]) or real(*a))
    init = chain_runs / "decoder" / "export.safetensors"
    run("decoder", image_root, tmp_path / "plain", f"init={init}", "steps=1")
    assert calls and {c[0] for c in calls} == {0.0}
    calls.clear()
    refined = run("decoder", image_root, tmp_path / "ref", f"init={init}", "steps=1", "loss.refine=0.3", "checkpoint_every=1",
                  "loss.refine_passes=1", "loss.refine_detail=0.4")
    assert set(calls) == {(0.3, 5, 1, 0.4, 9)}  # the losses (and validation) saw the refined output
    assert math.isfinite(next(r["loss"] for r in refined if "loss" in r))
    out = export_checkpoint.export(tmp_path / "ref" / "ckpt" / "step_00000001.safetensors", tmp_path / "r.safetensors",
                                   dtype="fp32", refine=0.3)
    state, cfg, _ = W.load(out)
    assert cfg.inference.refine == 0.3
    again = set_inference.rewrite(out, tmp_path / "r2.safetensors", refine=0.0, refine_passes=1)
    state2, cfg2, meta2 = W.load(again)
    assert (cfg2.inference.refine, cfg2.inference.refine_passes, cfg2.inference.window) == (0.0, 1, cfg.inference.window)
    assert state2.keys() == state.keys() and all(torch.equal(state[k], state2[k]) for k in state)
    for match, bad in (("--refine", dict(refine=-1)), ("--refine-kernel must be odd", dict(refine_kernel=4)),
                       ("--refine-detail must be in", dict(refine_detail=1.5)),
                       ("--refine-detail-kernel must be odd", dict(refine_detail_kernel=8)),
                       ("--deblock-temporal must be >= 0", dict(deblock_temporal=-0.1)),
                       ("--temporal-mean must be in", dict(temporal_mean=1.5)),
                       ("--temporal-mean-radius must be in", dict(temporal_mean_radius=4)),
                       ("--temporal-mean-match-scale must be one of", dict(temporal_mean_match_scale=3))):
        with pytest.raises(ConfigError, match=match):
            set_inference.rewrite(out, tmp_path / "x.safetensors", **bad)
    assert not (tmp_path / "x.safetensors").exists()
    _, cfg3, _ = W.load(set_inference.rewrite(again, tmp_path / "r3.safetensors", deblock_temporal=4.0))
    assert (cfg3.decoder.deblock_temporal, cfg3.inference.refine) == (4.0, 0.0)  # a decoder setting (no weights of its own)
    # tuning on (here: generated) training photos writes the best grid point into the file
    tune_refine.main(["--model", str(again), "--data", str(image_root / "imgs"), "--photos", "1", "--size", "64x48",
                      "--sigmas", "25", "--strengths", "0.1,0.4", "--kernels", "3", "--passes", "2", "--details", "0.5",
                      "--detail-kernels", "5", "--alphas", "0.2", "--radii", "1,3", "--match-scales", "1,2", "--write"])
    lines = capsys.readouterr().out.splitlines()

    def found(prefix: str) -> dict:
        line = next(line for line in lines if line.startswith(prefix))
        return dict(kv.split(" ") for kv in line.removeprefix(prefix).split(", "))

    best, mean = found("best: "), found("best temporal mean: ")
    if mean["alpha"] != "0.0":  # then the refinement was searched again under the mean, and that is what is stored
        best = found("best under the mean: ")
    assert best["strength"] in ("0.1", "0.4") and best["detail"] in ("0.0", "0.5")
    assert (mean["alpha"], mean["radius"]) in (("0.0", "1"), ("0.2", "1"), ("0.2", "3")) and mean["match_scale"] in "12"
    assert sum(line.startswith("alpha ") for line in lines) == 5  # off, and 0.2 at each radius and match scale
    inf = W.load(again)[1].inference
    assert (inf.refine, inf.refine_kernel, inf.refine_passes, inf.refine_detail, inf.refine_detail_kernel) == (
        float(best["strength"]), 3, 2, float(best["detail"]), 5)
    assert (inf.temporal_mean, inf.temporal_mean_radius, inf.temporal_mean_match_scale) == (
        float(mean["alpha"]), int(mean["radius"]), int(mean["match_scale"]))
    # the search restores with both stages off (it applies them itself), whatever the file has on
    on = set_inference.rewrite(again, tmp_path / "on.safetensors", refine=0.4, temporal_mean=0.5)
    made = []
    real_load = tune_refine.Restorer.from_pretrained
    monkeypatch.setattr(tune_refine.Restorer, "from_pretrained", lambda *a, **k: made.append(real_load(*a, **k)) or made[-1])
    tune_refine.restored_clips(str(on), image_root / "imgs", 1, [25], 7, (64, 48))
    assert [(r.refine, r.temporal_mean) for r in made] == [(0.0, 0.0)]


def test_psnr_loss_is_the_mean_log_mse_over_clips():
    g = torch.Generator().manual_seed(0)
    gt = torch.rand(2, 2, 3, 8, 8, generator=g)
    out = gt + torch.tensor([0.01, 0.1]).view(2, 1, 1, 1, 1) * torch.randn(gt.shape, generator=g)  # ~40 dB and ~20 dB
    psnr = -10 * torch.log10((out - gt).pow(2).flatten(1).mean(1))
    # the mean of the clips' -PSNR in nepers: a 20 dB clip does not drown a 40 dB one as a pooled MSE would
    assert torch.allclose(log_mse_loss(out, gt), (-psnr * np.log(10) / 10).mean(), atol=0.02)  # eps 1e-6 at MSE 1e-4
    assert not torch.allclose(log_mse_loss(out, gt), torch.log((out - gt).pow(2).mean()), atol=0.1)


def test_make_device_data_writes_a_jpeg_copy_laid_out_like_the_data_root(tmp_path, capsys):
    from training import make_device_data

    src, out = tmp_path / "src", tmp_path / "out"
    (src / "train" / "cbsd432").mkdir(parents=True)
    (src / "dev" / "kodak24").mkdir(parents=True)
    rng = np.random.default_rng(1)
    img = lambda: Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))  # noqa: E731
    for name in ("a.jpg", "b.png"):
        img().save(src / "train" / "cbsd432" / name)
    assert make_device_data.main([str(src), str(out)]) == 2  # Kodak 1-4 missing: a clear error, nothing written
    assert "kodim01.png" in capsys.readouterr().err and not out.exists()
    for i in range(1, 6):
        img().save(src / "dev" / "kodak24" / f"kodim{i:02d}.png")
    assert make_device_data.main([str(src), str(out)]) == 0
    assert sorted(p.name for p in (out / "train" / "cbsd432").iterdir()) == ["a.jpg", "b.jpg"]
    assert sorted(p.name for p in (out / "dev" / "kodak24").iterdir()) == [f"kodim0{i}.jpg" for i in range(1, 5)]
    with Image.open(out / "dev" / "kodak24" / "kodim01.jpg") as im:
        assert im.format == "JPEG" and im.size == (48, 40)
