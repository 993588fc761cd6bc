"""`fomm train` on TPSMM configs end to end: a tiny model trains on `fomm data synth` data and `fomm animate`
loads what it wrote; `--avd` trains the AVD network of that checkpoint and nothing else; what is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from fomm_cli.checkpoints import load_model
from fomm_cli.cli.app import main
from fomm_cli.errors import CheckpointError, ConflictingSettings
from fomm_cli.models.tpsmm.model import TPSMotionModel
from fomm_cli.train import run_folder
from fomm_cli.train.config import read_config
from fomm_cli.train.tpsmm_config import TPSMMTrainConfig
from fomm_cli.train.tpsmm_step import read_tpsmm_weights

from .helpers import PARITY, fomm_script
from .test_train_loop import RANK_HASH, ROOT

# 64 px, 4 splines, the TPSMM fixture's narrow networks (the ResNet-18s have their fixed size); background
# motion and dropout from the first epoch, so one step runs every term.
TINY = {
    "dataset_params": {"frame_shape": [64, 64, 3], "id_sampling": True,
                       "augmentation_params": {"flip_param": {"horizontal_flip": True, "time_flip": True}}},
    "model_params": {
        "common_params": {"num_tps": 4, "num_channels": 3, "bg": True, "multi_mask": True},
        "generator_params": {"block_expansion": 8, "max_features": 64, "num_down_blocks": 3},
        "dense_motion_params": {"block_expansion": 8, "max_features": 64, "num_blocks": 3, "scale_factor": 0.25},
        "avd_network_params": {"id_bottle_size": 16, "pose_bottle_size": 16}},
    "train_params": {"num_epochs": 10, "num_repeats": 2, "epoch_milestones": [8], "lr_generator": 2.0e-4,
                     "batch_size": 2, "scales": [1, 0.5, 0.25], "checkpoint_freq": 50, "dropout_epoch": 5,
                     "dropout_maxp": 0.3, "dropout_startp": 0.1, "dropout_inc_epoch": 2, "bg_start": 0,
                     "transform_params": {"sigma_affine": 0.05, "sigma_tps": 0.005, "points_tps": 5},
                     "loss_weights": {"perceptual": [10, 10, 10, 10, 10], "equivariance_value": 10,
                                      "warp_loss": 10, "bg": 10},
                     "perceptual_loss": "l1"},
    "train_avd_params": {"num_epochs": 10, "num_repeats": 2, "batch_size": 4, "epoch_milestones": [8], "lr": 1.0e-3,
                         "lambda_shift": 1, "random_scale": 0.25},
}


def run_fomm(*args: object) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([str(fomm_script()), *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tpsmm-synth") / "synth"
    result = run_fomm("data", "synth", root, "--videos", 4, "--test-videos", 1, "--frames", 6, "--size", 64,
                      "--clips-per-id", 2)
    assert result.returncode == 0, result.stderr
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tpsmm-config") / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data, tiny) -> tuple[Path, dict]:
    run = tmp_path_factory.mktemp("tpsmm-run") / "run"
    result = run_fomm("train", "--config", tiny, "--data", data, "-o", run, "--max-steps", 2, "--workers", 0, "--json")
    assert result.returncode == 0, result.stderr
    return run, json.loads(result.stdout)


def animate(data: Path, checkpoint: Path, out: Path, *flags: str) -> dict:
    video = next((data / "test").iterdir())
    result = run_fomm("animate", video / "000000.png", video, "-c", checkpoint, "-o", out, "--no-crop", "--json",
                      *flags)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_tpsmm_config_trains_and_animate_loads_the_result(trained, data, tmp_path):
    run, summary = trained
    assert summary["steps"] == 2
    assert set(summary["losses"]) == {"perceptual", "equivariance_value", "warp_loss", "bg", "total", "rec_l1"}
    assert (run / "checkpoints" / "step-0000002" / "training_state.pt").is_file()
    assert (run / "visuals" / "step-0000002.png").is_file() and (run / "losses.png").is_file()
    config = read_config(run / "config.yaml")
    assert isinstance(config, TPSMMTrainConfig) and not config.avd
    assert config.train_params.max_steps == 2 and config.train_params.bg_start == 0
    model = load_model(run)
    assert isinstance(model, TPSMotionModel) and model.config.num_tps == 4
    assert model.bg_predictor is not None and model.avd_network is None  # train.py saves no AVD network
    assert animate(data, run, tmp_path / "out.mp4")["frames"] == 6


def test_avd_trains_the_avd_network_of_a_checkpoint_and_nothing_else(trained, data, tiny, tmp_path):
    run = tmp_path / "avd"
    result = run_fomm("train", "--config", tiny, "--data", data, "-o", run, "--avd", "--init-from", trained[0],
                      "--max-steps", 2, "--workers", 0, "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["steps"] == 2 and set(summary["losses"]) == {"rec_kp", "total"}  # no frames rendered
    config = read_config(run / "config.yaml")
    assert isinstance(config, TPSMMTrainConfig) and config.avd and config.train.batch_size == 4

    before, after = load_model(trained[0]), load_model(run)
    assert isinstance(after, TPSMotionModel) and after.avd_network is not None
    for part in ("kp_detector", "dense_motion_network", "inpainting_network", "bg_predictor"):
        old, new = getattr(before, part).named_parameters(), dict(getattr(after, part).named_parameters())
        assert all(torch.equal(p, new[name]) for name, p in old), part
    # The frozen detector runs in train mode, as the reference's: its BatchNorm averages follow the data.
    bn = "fg_encoder.bn1.running_mean"
    assert not torch.equal(before.kp_detector.state_dict()[bn], after.kp_detector.state_dict()[bn])
    assert animate(data, run, tmp_path / "out.mp4", "--avd")["frames"] == 6


@pytest.mark.slow
def test_torchrun_two_processes_train_a_tpsmm_in_sync(tmp_path, data, tiny):
    script = tmp_path / "rank_hash.py"
    script.write_text(RANK_HASH)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
         str(tmp_path), "train", "--config", str(tiny), "--data", str(data), "-o", str(tmp_path / "run"),
         "--max-steps", "3", "--workers", "0", "--device", "cpu", "--json"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "Grad strides do not match" not in result.stderr  # DDP's buckets have the parameters' layout
    summary = json.loads(result.stdout)
    assert summary["steps"] == 3 and "bg" in summary["losses"]  # background predictor wrapped and trained too
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert ranks[0]["initial"] == ranks[1]["initial"]
    assert ranks[0]["final"] == ranks[1]["final"] != ranks[0]["initial"]


def test_avd_runs_resume_as_avd_runs_and_need_a_tpsmm(tmp_path, tiny):
    run = tmp_path / "run"
    run.mkdir()
    avd = read_config(tiny)
    assert isinstance(avd, TPSMMTrainConfig)
    (run / "config.yaml").write_text(avd.with_mode("train_avd").to_yaml())
    resumed = run_folder.resolve_config(run, None, tmp_path, True, {"batch_size": 8})
    assert isinstance(resumed, TPSMMTrainConfig) and resumed.avd and resumed.train_avd_params.batch_size == 8
    assert resumed.train_params.batch_size == 2  # the overrides go to the active block
    (run / "config.yaml").write_text(avd.to_yaml())
    with pytest.raises(ConflictingSettings, match="not its AVD network"):
        run_folder.resolve_config(run, None, tmp_path, True, {}, avd=True)
    with pytest.raises(ConflictingSettings, match="TPSMM"):
        run_folder.resolve_config(run, "demo", tmp_path, False, {}, avd=True)
    with pytest.raises(CheckpointError, match="a FOMM model cannot start TPSMM training"):
        read_tpsmm_weights(PARITY / "a.pth.tar")


def test_refusals_name_the_flags(trained, data, tmp_path, capsys):
    def fomm(*args: object) -> tuple[int, str]:
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            return int(exc.code or 0), capsys.readouterr().err
        return 0, capsys.readouterr().err

    code, err = fomm("train", "--config", "tpsmm-vox-256", "--data", data, "-o", tmp_path / "a", "--avd")
    assert code == 2 and "--init-from is required" in err
    code, err = fomm("train", "--config", "tpsmm-vox-256", "--data", data, "-o", tmp_path / "b", "--avd",
                     "--init-from", trained[0], "--perceptual", "l1")
    assert code == 2 and "--perceptual and --avd" in err
    code, err = fomm("train", "--config", "demo", "--data", data, "-o", tmp_path / "c", "--init-from", trained[0],
                     "--max-steps", 1)
    assert code == 1 and "a TPSMM model cannot start FOMM training" in err
    assert not any(tmp_path.iterdir())  # nothing written
