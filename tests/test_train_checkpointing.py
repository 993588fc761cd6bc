"""The run folder: atomic checkpoints, pruning, pinned epoch checkpoints, the published model, the log, the lock,
and resuming from the newest checkpoint that loads."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from fomm_cli.checkpoints import load_model, save_pretrained
from fomm_cli.config import ModelConfig
from fomm_cli.errors import CheckpointError, OutputExists, UnsafeOutput
from fomm_cli.models.model import FirstOrderModel
from fomm_cli.reporting import Reporter
from fomm_cli.train import checkpointing as ckpt
from fomm_cli.train import run_folder

from .test_train_data import write_tiny_config

STATE = {key: 0 for key in ckpt.STATE_KEYS}


@pytest.fixture
def model(tmp_path) -> FirstOrderModel:
    return FirstOrderModel(ModelConfig.from_yaml(write_tiny_config(tmp_path / "tiny.yaml")))


def save(run, step, model, keep=3, pinned=False):
    return ckpt.save_checkpoint(run, step, lambda folder: save_pretrained(model, folder), {**STATE, "step": step},
                                keep, pinned)


def test_rolling_and_pinned_checkpoints_and_the_published_model(tmp_path, model):
    run = tmp_path / "run"
    run.mkdir()
    for step in range(1, 7):
        with torch.no_grad():
            model.generator.final.bias.fill_(step)
        save(run, step, model, keep=2, pinned=step == 2)
    assert [s for s, _ in ckpt.list_checkpoints(run)] == [2, 5, 6]  # newest two, plus the pinned one
    assert ckpt.read_state(run / "checkpoints" / "step-0000002")["step"] == 2
    published = load_model(run / "model")
    assert torch.all(published.generator.final.bias == 6)
    assert not [p for p in run.rglob(".*")]  # no temporary leftovers


def test_leftovers_of_a_killed_save_are_ignored_and_removed(tmp_path, model):
    run = tmp_path / "run"
    save(run, 4, model)
    partial = run / "checkpoints" / ".step-0000008.tmp-123"
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"half")
    incomplete = run / "checkpoints" / "step-0000009"  # renamed but without its training state: not usable
    incomplete.mkdir()
    assert [s for s, _ in ckpt.list_checkpoints(run)] == [4]
    run_folder.prepare(run, resume=True, overwrite=False)
    assert not partial.exists()


def test_resume_falls_back_to_the_newest_checkpoint_that_loads(tmp_path, model):
    run = tmp_path / "run"
    for step in (2, 4, 6):
        save(run, step, model)
    (run / "checkpoints" / "step-0000006" / ckpt.STATE_NAME).write_bytes(b"\x00" * 10)  # a damaged state
    (run / "checkpoints" / "step-0000004" / "model.safetensors").write_bytes(b"junk")  # damaged weights
    loaded = []

    def restore(path, state):
        loaded.append(path.name)
        load_model(path)  # as the step does: raises FommError for damaged weights

    reporter = Reporter()
    path, state = ckpt.restore_newest(run, restore, reporter)
    assert path.name == "step-0000002" and state["step"] == 2 and loaded == ["step-0000004", "step-0000002"]
    assert len(reporter.warnings) == 2
    assert "step-0000006" in reporter.warnings[0] and "step-0000004" in reporter.warnings[1]
    (run / "checkpoints" / "step-0000002" / ckpt.STATE_NAME).unlink()
    (run / "checkpoints" / "step-0000002" / ckpt.STATE_NAME).write_bytes(b"")
    with pytest.raises(CheckpointError, match="none of the 3 checkpoint"):
        ckpt.restore_newest(run, restore, Reporter())
    assert ckpt.restore_newest(tmp_path / "fresh", restore, Reporter()) is None


def test_run_folder_rules_and_log_truncation(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "mine.txt").write_text("keep me")
    with pytest.raises(OutputExists):
        run_folder.check(run, resume=False, overwrite=False)
    with pytest.raises(OutputExists):
        run_folder.prepare(run, resume=False, overwrite=False)
    (run / "checkpoints").mkdir()
    lines = [json.dumps({"step": s}) for s in range(1, 8)]
    (run / "log.jsonl").write_text("\n".join(lines) + '\n{"step": 8, "perc')  # cut short by a kill
    run_folder.truncate_log(run / "log.jsonl", 5)
    assert [r["step"] for r in run_folder.read_log(run / "log.jsonl")] == [1, 2, 3, 4, 5]
    run_folder.prepare(run, resume=False, overwrite=True)
    assert sorted(p.name for p in run.iterdir()) == ["mine.txt"]  # only our own entries are cleared
    (tmp_path / "file").write_text("x")
    with pytest.raises(UnsafeOutput, match="not a folder"):
        run_folder.check(tmp_path / "file", resume=True, overwrite=False)


HOLD_LOCK = """
import fcntl, sys, time
handle = open(sys.argv[1], "a")
fcntl.flock(handle, fcntl.LOCK_EX)
handle.write("4242\\n")
handle.flush()
print("locked", flush=True)
time.sleep(120)
"""


@pytest.fixture
def live_run(tmp_path):
    """A run folder whose lock another process holds (a run still training), with a checkpoint in it."""
    run = tmp_path / "run"
    (run / "checkpoints" / "step-0000010").mkdir(parents=True)
    (run / "checkpoints" / "step-0000010" / "model.safetensors").write_bytes(b"weights")
    (run / "config.yaml").write_text("mine")
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run / run_folder.LOCK_NAME)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    yield run
    holder.kill()
    holder.wait()


def test_one_trainer_per_run_folder(live_run):
    assert run_folder.running_pid(live_run) == 4242
    with pytest.raises(UnsafeOutput, match=r"pid 4242\) is training in it"):
        run_folder.check(live_run, resume=False, overwrite=True)
    with pytest.raises(UnsafeOutput, match=r"pid 4242"):
        run_folder.lock(live_run)
    assert (live_run / "checkpoints" / "step-0000010" / "model.safetensors").read_bytes() == b"weights"


def test_the_lock_is_released_with_its_file(tmp_path):
    first = run_folder.lock(tmp_path / "run")
    assert (tmp_path / "run" / run_folder.LOCK_NAME).read_text().strip().isdigit()
    with pytest.raises(UnsafeOutput):
        run_folder.lock(tmp_path / "run")
    first.close()
    assert run_folder.running_pid(tmp_path / "run") is None
    run_folder.lock(tmp_path / "run").close()  # released with its file (and by the OS when a process dies)
