"""Training engine on real images (Debian's Fashion-MNIST): resume, crashes, configs, distributed."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest

from conftest import QUICK_START, fashion_overrides, make_fashion_subset
from ppcls_hrnet.config import load_config
from ppcls_hrnet.engine import checkpoint as ckpt_module
from ppcls_hrnet.engine.checkpoint import CheckpointError, load_checkpoint
from ppcls_hrnet.engine.evaluator import run_eval
from ppcls_hrnet.engine.trainer import Trainer
from ppcls_hrnet.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return make_fashion_subset(tmp_path_factory.mktemp("fm_tiny"), 96, 40)


def tiny_config(data, out, *extra):
    return load_config(QUICK_START, fashion_overrides(data) + [
        f"Global.output_dir={out}", "Global.epochs=2", "Global.print_batch_step=1",
        "DataLoader.Train.sampler.batch_size=32", "DataLoader.Eval.sampler.batch_size=40", *extra])


def weights(path):
    return {k: np.asarray(v) for k, v in paddle.load(str(path)).items()}


def metrics(out):
    return [json.loads(line) for line in (Path(out) / "HRNet_W18_small_v1/metrics.jsonl").read_text().splitlines()]


def test_resume_continues_exactly(tiny_data, tmp_path, monkeypatch):
    straight = tmp_path / "straight"
    Trainer(tiny_config(tiny_data, straight)).fit()

    crashed = tmp_path / "crashed"
    real_train_epoch = Trainer.train_epoch

    def crash_in_epoch_2(self, epoch):
        if epoch == 2:
            raise KeyboardInterrupt("simulated kill during epoch 2")
        return real_train_epoch(self, epoch)

    monkeypatch.setattr(Trainer, "train_epoch", crash_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        Trainer(tiny_config(tiny_data, crashed)).fit()
    monkeypatch.setattr(Trainer, "train_epoch", real_train_epoch)
    latest = crashed / "HRNet_W18_small_v1/latest"
    assert load_checkpoint(str(latest))["states"]["epoch"] == 1

    resumed = Trainer(tiny_config(tiny_data, crashed, f"Global.checkpoints={latest}"))
    assert resumed.start_epoch == 2
    resumed.fit()

    a = weights(straight / "HRNet_W18_small_v1/latest.pdparams")
    b = weights(crashed / "HRNet_W18_small_v1/latest.pdparams")
    assert a.keys() == b.keys()
    worst = max(float(np.abs(a[k] - b[k]).max()) for k in a)
    assert worst < 1e-5, f"resumed run drifted from the uninterrupted one by {worst}"
    lr_straight = [m["lr"] for m in metrics(straight) if m["phase"] == "train"]
    lr_resumed = [m["lr"] for m in metrics(crashed) if m["phase"] == "train"]
    assert lr_resumed == pytest.approx(lr_straight, rel=1e-9)
    assert load_checkpoint(str(latest))["states"]["epoch"] == 2


def test_interrupted_save_keeps_last_good_checkpoint(tiny_data, tmp_path, monkeypatch):
    out = tmp_path / "out"
    cfg = tiny_config(tiny_data, out, "Global.epochs=2")
    real_save = paddle.save

    def die_writing_epoch_2_optimizer(obj, path, *args, **kwargs):
        if str(path).endswith("latest.pdopt.tmp") and isinstance(obj, dict) and _epoch_being_saved[0] == 2:
            with open(path, "wb") as f:
                f.write(b"half a file")
            raise OSError("simulated crash while saving")
        return real_save(obj, path, *args, **kwargs)

    _epoch_being_saved = [0]
    real_checkpoint = ckpt_module.save_checkpoint

    def track(directory, prefix, payload, states):
        _epoch_being_saved[0] = states["epoch"]
        return real_checkpoint(directory, prefix, payload, states)

    monkeypatch.setattr(ckpt_module.paddle, "save", die_writing_epoch_2_optimizer)
    monkeypatch.setattr("ppcls_hrnet.engine.trainer.save_checkpoint", track)
    with pytest.raises(OSError, match="simulated crash"):
        Trainer(cfg).fit()
    monkeypatch.undo()

    model_dir = out / "HRNet_W18_small_v1"
    assert not list(model_dir.glob("*.tmp")), "temp files of the failed save were left behind"
    latest = load_checkpoint(str(model_dir / "latest"))
    assert latest["states"]["epoch"] == 1
    epoch_1 = weights(model_dir / "epoch_1.pdparams")
    assert all(np.array_equal(epoch_1[k], np.asarray(v)) for k, v in latest[".pdparams"].items())
    # and training picks up from it
    Trainer(tiny_config(tiny_data, out, f"Global.checkpoints={model_dir / 'latest'}")).fit()
    assert load_checkpoint(str(model_dir / "latest"))["states"]["epoch"] == 2


def test_checkpoint_mixing_two_epochs_is_refused(tiny_data, tmp_path):
    out = tmp_path / "out"
    Trainer(tiny_config(tiny_data, out)).fit()
    model_dir = out / "HRNet_W18_small_v1"
    # a crash between two renames: new weights beside the old optimizer/states
    os.replace(model_dir / "epoch_1.pdparams", model_dir / "latest.pdparams")
    with pytest.raises(CheckpointError, match="interrupted while being saved.*epoch_N or best_model"):
        load_checkpoint(str(model_dir / "latest"))
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(str(model_dir / "nothing_here"))


def test_fine_tune_from_weights_with_another_class_num(tiny_data, tmp_path, caplog):
    out = tmp_path / "out"
    Trainer(tiny_config(tiny_data, out, "Global.epochs=1")).fit()
    source = paddle.load(str(out / "HRNet_W18_small_v1/latest.pdparams"))
    source["fc.weight"] = paddle.zeros([2048, 4])  # a 4-class head: must be skipped, not loaded
    source["fc.bias"] = paddle.zeros([4])
    paddle.save(source, str(tmp_path / "four_class.pdparams"))
    trainer = Trainer(tiny_config(tiny_data, tmp_path / "ft", "Global.epochs=1",
                                  f"Global.pretrained_model={tmp_path / 'four_class'}"))
    state = trainer.model.state_dict()
    assert np.array_equal(np.asarray(state["conv_layer1_1.conv.weight"]), np.asarray(source["conv_layer1_1.conv.weight"]))
    assert state["fc.weight"].shape == [2048, 10]
    assert "fc.weight" in caplog.text


def test_bad_inputs_are_named(tiny_data, tmp_path):
    with pytest.raises(ConfigError, match="Global.epoch.*Did you mean Global.epochs"):
        load_config(QUICK_START, ["Global.epoch=3"])
    with pytest.raises(ConfigError, match="Global.device is 'gpu' but this Paddle build is CPU-only"):
        Trainer(tiny_config(tiny_data, tmp_path, "Global.device=gpu"))
    bad_list = tmp_path / "bad_list.txt"
    bad_list.write_text("images/train/Bag/x.png 3\nimages/train/Bag/y.png 12\n")
    from ppcls_hrnet.data import DataError

    with pytest.raises(DataError, match=r"bad_list.txt:2.*12"):
        Trainer(tiny_config(tiny_data, tmp_path, f"DataLoader.Train.dataset.cls_label_path={bad_list}"))


@pytest.mark.slow
def test_paddleclas_verbatim_config_runs_one_short_epoch(tiny_data, tmp_path):
    cfg = load_config(ROOT / "tests/data/paddleclas/HRNet_W18_C.yaml", [
        "Global.device=cpu", "Global.epochs=1", f"Global.output_dir={tmp_path}", "Arch.class_num=10",
        f"DataLoader.Train.dataset.image_root={tiny_data}",
        f"DataLoader.Train.dataset.cls_label_path={tiny_data}/train_list.txt",
        f"DataLoader.Eval.dataset.image_root={tiny_data}",
        f"DataLoader.Eval.dataset.cls_label_path={tiny_data}/test_list.txt",
        "DataLoader.Train.dataset.transform_ops.1.RandCropImage.size=64",
        "DataLoader.Eval.dataset.transform_ops.1.ResizeImage.resize_short=72",
        "DataLoader.Eval.dataset.transform_ops.2.CropImage.size=64",
        "DataLoader.Train.sampler.batch_size=32", "DataLoader.Eval.sampler.batch_size=40",
        "DataLoader.Train.loader.num_workers=0", "DataLoader.Eval.loader.num_workers=0",
        "Global.print_batch_step=1",
    ])
    stats = Trainer(cfg).fit()
    assert stats["samples"] == 40
    states = load_checkpoint(str(tmp_path / "HRNet_W18_C/latest"))["states"]
    assert states["epoch"] == 1 and states["model"] == "HRNet_W18_C"


@pytest.mark.slow
def test_two_process_data_parallel_training(tiny_data, tmp_path):
    out = tmp_path / "out"
    log_dir = tmp_path / "launch_logs"
    cmd = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2",
           "--log_dir", str(log_dir), str(ROOT / "tools/train.py"), "-c", str(QUICK_START)]
    # an odd eval list: DistributedBatchSampler would pad it to 40 by repeating an image
    eval_list = tmp_path / "eval_list.txt"
    eval_list.write_text("".join((tiny_data / "test_list.txt").read_text().splitlines(keepends=True)[:39]))
    for o in fashion_overrides(tiny_data) + [f"Global.output_dir={out}", "Global.epochs=1",
                                          "DataLoader.Train.sampler.batch_size=16", "Global.seed=3",
                                          f"DataLoader.Eval.dataset.cls_label_path={eval_list}",
                                          "DataLoader.Eval.sampler.batch_size=8"]:
        cmd += ["-o", o]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    worker_logs = [p.read_text(errors="replace") for p in sorted(log_dir.glob("workerlog.*"))]
    logs = "\n".join(worker_logs)
    assert proc.returncode == 0, proc.stderr[-3000:] + logs[-3000:]
    records = metrics(out)
    (ranks,) = [r for r in records if r["phase"] == "ranks"]
    assert len(ranks["weight_sha256"]) == 2 and len(set(ranks["weight_sha256"])) == 1
    # each rank trained on its own half: 96 images / 2 ranks / batch 16 = 3 iterations
    assert "[Iter: 3/3]" in logs
    assert (out / "HRNet_W18_small_v1/latest.pdparams").exists()
    # both ranks evaluated their share (rank 0 alone kept rank 1 waiting in a gloo
    # collective, which times out after ~30 s), every image once
    assert "rank 0 of 2 read 20 of the 39 images" in worker_logs[0]
    assert "rank 1 of 2 read 19 of the 39 images" in worker_logs[1]
    (evaluated,) = [r for r in records if r["phase"] == "eval"]
    assert evaluated["samples"] == 39
    # ... and the summed result is the single-process eval of the saved weights
    single = load_config(QUICK_START, fashion_overrides(tiny_data) + [
        f"DataLoader.Eval.dataset.cls_label_path={eval_list}",
        f"Global.pretrained_model={out}/HRNet_W18_small_v1/latest"])
    alone = run_eval(single)
    assert alone["samples"] == 39
    assert alone["top1"] == pytest.approx(evaluated["top1"], abs=1e-9)
    assert alone["loss"] == pytest.approx(evaluated["loss"], rel=1e-4)


def test_lr_schedules_step_per_update():
    from ppcls_hrnet.engine.optim import build_lr_scheduler

    def lrs(cfg, epochs, steps):
        sched = build_lr_scheduler(cfg, epochs, steps)
        out = []
        for _ in range(epochs * steps):
            out.append(sched.get_lr())
            sched.step()
        return out

    piecewise = lrs({"name": "Piecewise", "decay_epochs": [1, 2], "values": [0.1, 0.01, 0.001]}, 3, 4)
    assert piecewise == pytest.approx([0.1] * 4 + [0.01] * 4 + [0.001] * 4)
    cosine = lrs({"name": "Cosine", "learning_rate": 0.1, "warmup_epoch": 1, "warmup_start_lr": 0.0,
                  "eta_min": 0.0}, 3, 4)
    assert cosine[:4] == pytest.approx([0.0, 0.025, 0.05, 0.075])  # linear warmup
    assert cosine[4] == pytest.approx(0.1)  # peak right after warmup
    assert cosine[-1] < 0.01 and cosine == sorted(cosine[:5]) + sorted(cosine[5:], reverse=True)


def test_gradient_accumulation_steps_once_per_n_batches(tiny_data, tmp_path):
    # 96 images / batch 16 = 6 batches; update_freq 4 -> 2 optimizer steps per epoch
    trainer = Trainer(tiny_config(tiny_data, tmp_path, "Global.epochs=1", "Global.update_freq=4",
                                  "DataLoader.Train.sampler.batch_size=16", "Global.eval_during_train=False"))
    assert trainer.steps_per_epoch == 2
    steps = []
    real_step = trainer.optimizer.step
    trainer.optimizer.step = lambda: (steps.append(1), real_step())
    trainer.fit()
    assert len(steps) == 2
    assert trainer.scheduler.last_epoch == 2


def test_ema_weights_are_evaluated_and_kept_as_best(tiny_data, tmp_path):
    out = tmp_path / "out"
    trainer = Trainer(tiny_config(tiny_data, out, "Global.epochs=1", "EMA.decay=0.5"))
    trainer.fit()
    model_dir = out / "HRNet_W18_small_v1"
    best = weights(model_dir / "best_model.pdparams")
    latest = weights(model_dir / "latest.pdparams")
    ema = {k: np.asarray(v) for k, v in trainer.ema.state_dict().items()}
    key = "conv_layer1_1.conv.weight"
    assert np.allclose(best[key], ema[key]) and not np.allclose(best[key], latest[key])
    assert (model_dir / "latest.pdema").exists()


def test_skip_bad_from_the_config_counts_bad_lines(tiny_data, tmp_path):
    lines = (tiny_data / "train_list.txt").read_text().splitlines()
    bad_list = tmp_path / "with_bad_line.txt"
    bad_list.write_text("\n".join(lines + ["images/train/Bag/missing_label.png"]) + "\n")
    overrides = [f"DataLoader.Train.dataset.cls_label_path={bad_list}", "Global.eval_during_train=False"]
    from ppcls_hrnet.data import DataError

    with pytest.raises(DataError, match="with_bad_line.txt:97"):
        Trainer(tiny_config(tiny_data, tmp_path, *overrides))
    trainer = Trainer(tiny_config(tiny_data, tmp_path, *overrides, "DataLoader.Train.dataset.skip_bad=True"))
    assert len(trainer.train_loader.dataset) == 96
    assert trainer.train_loader.dataset.num_skipped == 1


def test_to_static_trains_the_same_layer_with_a_static_forward(tiny_data, tmp_path):
    from paddle.jit.dy2static.program_translator import StaticFunction

    trainer = Trainer(tiny_config(tiny_data, tmp_path, "Global.epochs=1", "Global.to_static=True",
                                  "Global.eval_during_train=False"))
    assert isinstance(trainer.model.forward, StaticFunction)
    before = {k: v.numpy().copy() for k, v in trainer.model.state_dict().items()}
    trainer.fit()
    after = trainer.model.state_dict()
    assert set(after) == set(before)  # the state dict (and so checkpoints, export) is unchanged in form
    assert not np.allclose(before["conv_layer1_1.conv.weight"], after["conv_layer1_1.conv.weight"].numpy())
    saved = weights(tmp_path / "HRNet_W18_small_v1" / "latest.pdparams")
    np.testing.assert_array_equal(saved["fc.weight"], after["fc.weight"].numpy())


def test_bf16_on_a_cpu_without_avx512_bf16_trains_in_fp32_and_says_so(tiny_data, tmp_path, caplog, monkeypatch):
    from paddle.base import core

    monkeypatch.setattr(core, "supports_bfloat16_fast_performance", lambda: False)
    with caplog.at_level("WARNING", logger="ppcls_hrnet"):
        trainer = Trainer(tiny_config(tiny_data, tmp_path, "Global.epochs=1", "AMP.use_amp=True",
                                      "AMP.dtype=bfloat16"))
    assert trainer.scaler is None and "no AVX512-BF16" in caplog.text and "training in fp32" in caplog.text
    with pytest.raises(ConfigError, match="AMP.dtype: 'bf32'"):
        tiny_config(tiny_data, tmp_path, "AMP.use_amp=True", "AMP.dtype=bf32")


@pytest.mark.parametrize("env, expected", [({}, None), ({"OMP_NUM_THREADS": "3"}, 3), ({"OMP_NUM_THREADS": ""}, None),
                                           ({"OMP_NUM_THREADS": "x"}, None)])
def test_cpu_threads_only_when_asked(monkeypatch, env, expected):
    from ppcls_hrnet.engine import builders

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert builders.requested_cpu_threads() == expected
