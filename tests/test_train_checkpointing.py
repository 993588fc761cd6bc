"""The run folder: atomic checkpoints, pruning, pinned epoch checkpoints, the published model, the log."""

from __future__ import annotations

import json

import pytest
import torch

from fomm_cli.checkpoints import load_model
from fomm_cli.config import ModelConfig
from fomm_cli.errors import FommError
from fomm_cli.models.model import FirstOrderModel
from fomm_cli.train import checkpointing as ckpt

from .test_train_data import write_tiny_config


@pytest.fixture
def model(tmp_path) -> FirstOrderModel:
    return FirstOrderModel(ModelConfig.from_yaml(write_tiny_config(tmp_path / "tiny.yaml")))


def test_rolling_and_pinned_checkpoints_and_the_published_model(tmp_path, model):
    run = tmp_path / "run"
    ckpt.prepare_run_dir(run, resume=False, overwrite=False)
    for step in range(1, 7):
        with torch.no_grad():
            model.generator.final.bias.fill_(step)
        ckpt.save_checkpoint(run, step, model, {"step": step}, keep=2, pinned=step == 2)
    assert [s for s, _ in ckpt.list_checkpoints(run)] == [2, 5, 6]  # newest two, plus the pinned one
    assert ckpt.latest_checkpoint(run).name == "step-0000006"
    weights, state = ckpt.load_checkpoint(run / "checkpoints" / "step-0000002")
    assert state == {"step": 2} and torch.all(weights["generator"]["final.bias"] == 2)
    published = load_model(run / "model")
    assert torch.all(published.generator.final.bias == 6)
    assert not [p for p in run.rglob(".*")]  # no temporary leftovers


def test_leftovers_of_a_killed_save_are_ignored_and_removed(tmp_path, model):
    run = tmp_path / "run"
    ckpt.save_checkpoint(run, 4, model, {"step": 4}, keep=3)
    partial = run / "checkpoints" / ".step-0000008.tmp-123"
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"half")
    incomplete = run / "checkpoints" / "step-0000009"  # renamed but without its training state: not usable
    incomplete.mkdir()
    assert ckpt.latest_checkpoint(run).name == "step-0000004"
    ckpt.prepare_run_dir(run, resume=True, overwrite=False)
    assert not partial.exists()


def test_run_folder_rules_and_log_truncation(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "mine.txt").write_text("keep me")
    with pytest.raises(FommError, match="not empty"):
        ckpt.prepare_run_dir(run, resume=False, overwrite=False)
    (run / "checkpoints").mkdir()
    lines = [json.dumps({"step": s}) for s in range(1, 8)]
    (run / "log.jsonl").write_text("\n".join(lines) + '\n{"step": 8, "perc')  # cut short by a kill
    ckpt.truncate_log(run / "log.jsonl", 5)
    assert [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()] == [1, 2, 3, 4, 5]
    ckpt.prepare_run_dir(run, resume=False, overwrite=True)
    assert sorted(p.name for p in run.iterdir()) == ["mine.txt"]  # only our own entries are cleared
    (tmp_path / "file").write_text("x")
    with pytest.raises(FommError, match="not a folder"):
        ckpt.prepare_run_dir(tmp_path / "file", resume=True, overwrite=False)


def test_one_trainer_per_run_folder(tmp_path):
    first = ckpt.lock_run_dir(tmp_path)
    with pytest.raises(FommError, match="another `fomm train` is running"):
        ckpt.lock_run_dir(tmp_path)
    first.close()
    ckpt.lock_run_dir(tmp_path).close()  # released with its file (and by the OS when a process dies)
