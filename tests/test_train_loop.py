"""`fomm train` end to end on a tiny config: learning, outputs, resuming after SIGKILL, stopping on SIGTERM,
adversarial training, and two processes under torchrun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from fomm_cli.checkpoints import load_model, save_pretrained
from fomm_cli.cli.app import main
from fomm_cli.config import ModelConfig
from fomm_cli.models.model import FirstOrderModel
from fomm_cli.train.config import TrainConfig

from . import test_train_checkpointing
from .test_train_data import write_dataset, write_tiny_config

live_run = test_train_checkpointing.live_run  # a fixture: a run folder whose lock another process holds

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("train-data") / "shapes", num_videos=8)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return write_tiny_config(tmp_path_factory.mktemp("train-config") / "tiny.yaml")


@pytest.fixture(autouse=True)
def one_thread():
    """Training steps on tiny tensors are dominated by thread synchronisation: one thread is faster and far
    steadier on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def fomm(capsys: pytest.CaptureFixture, *args: object) -> tuple[int, str, str]:
    """Run the CLI in this process: (exit code, stdout, stderr)."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def fomm_process(*args: object, **kwargs: object) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # one thread: bit-identical runs
    return subprocess.Popen([sys.executable, "-m", "fomm_cli", *map(str, args)], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def logged_steps(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.02)


@pytest.mark.slow
def test_tiny_config_learns_and_yields_a_usable_model(tmp_path, capsys, data, tiny):
    run = tmp_path / "run"
    code, out, err = fomm(capsys, "train", "--config", tiny, "--data", data, "-o", run, "--perceptual", "l1",
                          "--max-steps", 100, "--checkpoint-every", 40, "--visualize-every", 50, "--keep", 2,
                          "--workers", 1, "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["steps"] == 100 and summary["resumed_from"] is None and summary["vgg_weights"] is None

    log = logged_steps(run)
    assert [r["step"] for r in log] == list(range(1, 101))
    first, last = (sum(r["rec_l1"] for r in part) / 20 for part in (log[:20], log[-20:]))
    assert last < 0.85 * first, (first, last)  # the reconstruction gets better
    assert sum(r["perceptual"] for r in log[-20:]) < sum(r["perceptual"] for r in log[:20])
    assert {"equivariance_value", "equivariance_jacobian", "total", "lr", "sec_per_step"} <= set(log[-1])

    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-0000080", "step-0000100"]
    assert sorted(p.name for p in (run / "visuals").iterdir()) == ["step-0000050.png", "step-0000100.png"]
    saved = TrainConfig.from_yaml(run / "config.yaml")
    assert saved.train.perceptual_loss == "l1" and saved.train.max_steps == 100
    assert saved.dataset.root_dir == str(data.resolve())

    model = load_model(run / "model")
    assert model.config.num_kp == 4 and model.config.image_size == (32, 32)
    latest = load_file(run / "checkpoints" / "step-0000100" / "model.safetensors")
    published = load_file(run / "model" / "model.safetensors")
    assert all((latest[k] == published[k]).all() for k in published)

    code, out, err = fomm(capsys, "models", "info", run / "model", "--json")
    assert code == 0, err
    assert json.loads(out)["model_params"]["common_params"]["num_kp"] == 4
    frames = data / "test" / "id0#clip0"
    code, out, err = fomm(capsys, "animate", frames / "0000.png", frames, "-c", run, "-o", tmp_path / "anim.mp4",
                          "--no-crop", "--json")
    assert code == 0, err
    assert json.loads(out)["frames"] == 12


def test_a_used_run_folder_needs_resume_or_y(tmp_path, capsys, data, tiny):
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    args = ["train", "--config", tiny, "--data", data, "-o", run, "--perceptual", "l1", "--max-steps", 1,
            "--workers", 0]
    code, _, err = fomm(capsys, *args)
    assert code == 1 and "--resume" in err and not (run / "config.yaml").exists()
    code, _, err = fomm(capsys, *args, "-y")
    assert code == 0, err
    assert (run / "notes.txt").read_text() == "mine" and (run / "model").is_dir()
    code, _, err = fomm(capsys, "train", "-o", run, "--resume", "-y")
    assert code == 2 and "resum" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_kill_9_then_resume_continues_from_the_last_checkpoint_exactly(tmp_path, data, tiny):
    common = ["--config", tiny, "--data", data, "--perceptual", "l1", "--checkpoint-every", 4, "--workers", 1, "--json"]
    reference = fomm_process("train", *common, "-o", tmp_path / "reference", "--max-steps", 16)
    victim = fomm_process("train", *common, "-o", tmp_path / "victim", "--max-steps", 1000)
    wait_for(lambda: (tmp_path / "victim" / "checkpoints" / "step-0000008").is_dir())
    victim.kill()  # SIGKILL: no chance to clean up
    victim.communicate(timeout=60)
    assert reference.communicate(timeout=300)[0]

    resumed = fomm_process("train", "-o", tmp_path / "victim", "--resume", "--max-steps", 16, "--workers", 1, "--json")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    summary = json.loads(out)
    assert summary["resumed_from"] in (8, 12) and summary["steps"] == 16
    assert [r["step"] for r in logged_steps(tmp_path / "victim")] == list(range(1, 17))
    assert not [p for p in (tmp_path / "victim" / "checkpoints").iterdir() if p.name.startswith(".")]
    # Same data, same random warps, same optimiser state: the resumed run is the uninterrupted one, bit for bit.
    ours = load_file(tmp_path / "victim" / "model" / "model.safetensors")
    theirs = load_file(tmp_path / "reference" / "model" / "model.safetensors")
    assert ours.keys() == theirs.keys() and all((ours[k] == theirs[k]).all() for k in ours)


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_stops(tmp_path, data, tiny):
    run = tmp_path / "run"
    proc = fomm_process("train", "--config", tiny, "--data", data, "-o", run, "--perceptual", "l1", "--max-steps", 1000,
                        "--checkpoint-every", 1000, "--workers", 0)
    wait_for(lambda: (run / "log.jsonl").is_file() and len((run / "log.jsonl").read_text().splitlines()) >= 3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "checkpoint saved" in err and "resume" in err
    stopped_at = logged_steps(run)[-1]["step"]
    assert [p.name for p in (run / "checkpoints").iterdir()] == [f"step-{stopped_at:07d}"]


def test_adversarial_config_trains_and_init_from_keeps_a_frozen_detector(tmp_path, capsys, data):
    config = write_tiny_config(tmp_path / "adv.yaml", generator_gan=1, lr_kp_detector=0)
    start = FirstOrderModel(ModelConfig.from_yaml(config))
    save_pretrained(start, tmp_path / "start")
    run = tmp_path / "run"
    code, out, err = fomm(capsys, "train", "--config", config, "--data", data, "-o", run, "--perceptual", "l1",
                          "--max-steps", 3, "--workers", 0, "--init-from", tmp_path / "start", "--json")
    assert code == 0, err
    losses = json.loads(out)["losses"]
    assert {"gen_gan", "feature_matching", "disc_gan", "perceptual"} <= set(losses)
    trained = load_model(run / "model", with_discriminator=True)
    assert trained.discriminator is not None
    assert trained.config.discriminator.sn and trained.config.discriminator.use_kp
    frozen = {k: v for k, v in start.kp_detector.state_dict().items() if "running" not in k and "batches" not in k}
    assert all((trained.kp_detector.state_dict()[k] == v).all() for k, v in frozen.items())  # lr_kp_detector: 0
    assert any((trained.generator.state_dict()[k] != v).any() for k, v in start.generator.state_dict().items())


RANK_HASH = '''
import hashlib, os, sys
from fomm_cli.cli.app import main
from fomm_cli.train import families

steps, initial = [], []


def digest(model):
    h = hashlib.sha256()
    for name, p in model.named_parameters():
        h.update(name.encode())
        h.update(p.detach().cpu().numpy().tobytes())
    return h.hexdigest()


def capturing(factory):
    def capture(*args, **kwargs):
        step = factory(*args, **kwargs)
        steps.append(step)
        initial.append(digest(step.model))
        return step
    return capture


if __name__ == "__main__":  # data workers start by re-importing this script
    for family, factory in list(families.STEPS.items()):
        families.STEPS[family] = capturing(factory)
    main(sys.argv[2:])
    with open(os.path.join(sys.argv[1], "rank%s.json" % os.environ["RANK"]), "w") as fh:
        fh.write('{"initial": "%s", "final": "%s"}' % (initial[0], digest(steps[0].model)))
'''


@pytest.mark.slow
def test_torchrun_two_processes_keep_parameters_in_sync(tmp_path, data):
    config = write_tiny_config(tmp_path / "adv.yaml", generator_gan=1)  # generator, detector and discriminator
    script = tmp_path / "rank_hash.py"
    script.write_text(RANK_HASH)
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
         str(tmp_path), "train", "--config", str(config), "--data", str(data), "-o", str(run), "--perceptual", "l1",
         "--max-steps", "6", "--checkpoint-every", "3", "--workers", "1", "--device", "cpu", "--json"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "Grad strides do not match" not in result.stderr  # DDP's buckets have the parameters' layout
    summary = json.loads(result.stdout)  # exactly one JSON object: only rank 0 reports
    assert summary["steps"] == 6 and summary["epoch"] == 1  # 8 videos x 4 repeats / (4 x 2) = 4 steps per epoch
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert ranks[0]["initial"] == ranks[1]["initial"]
    assert ranks[0]["final"] == ranks[1]["final"] != ranks[0]["initial"]  # trained, on different data, in sync
    assert [r["step"] for r in logged_steps(run)] == list(range(1, 7))  # one writer
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-0000003", "step-0000006"]


FOMM = Path(sys.executable).parent / "fomm"


def test_y_on_a_live_run_is_refused_and_leaves_it_untouched(tmp_path, data, tiny, live_run):
    before = sorted(str(p.relative_to(live_run)) for p in live_run.rglob("*"))
    result = subprocess.run([str(a) for a in (FOMM, "train", "--config", tiny, "--data", data, "-o", live_run, "-y",
                                              "--perceptual", "l1", "--max-steps", 1, "--workers", 0)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "pid 4242" in lines[0] and "training in it" in lines[0], result.stderr
    assert sorted(str(p.relative_to(live_run)) for p in live_run.rglob("*")) == before
    assert (live_run / "config.yaml").read_text() == "mine"


def test_the_lock_comes_before_any_deletion(tmp_path, data, tiny, live_run, monkeypatch):
    """Even when the live run appears after the early check (a race), the lock refuses before -y deletes."""
    from fomm_cli.errors import UnsafeOutput
    from fomm_cli.jobs import train as job
    from fomm_cli.train import run_folder

    monkeypatch.setattr(run_folder, "check", lambda *args: None)
    options = job.Options(live_run, str(tiny), data, overwrite=True, perceptual="l1", max_steps=1, workers=0)
    with pytest.raises(UnsafeOutput, match="pid 4242"):
        job.run(options)
    assert (live_run / "config.yaml").read_text() == "mine"
    assert (live_run / "checkpoints" / "step-0000010" / "model.safetensors").read_bytes() == b"weights"


def test_resume_skips_a_damaged_checkpoint_and_says_so(tmp_path, data, tiny):
    from fomm_cli.jobs import train as job
    from fomm_cli.reporting import Reporter

    run = tmp_path / "run"
    common = {"perceptual": "l1", "workers": 0}
    job.run(job.Options(run, str(tiny), data, max_steps=4, checkpoint_every=2, **common))
    (run / "checkpoints" / "step-0000004" / "training_state.pt").write_bytes(b"damaged")
    reporter = Reporter()
    summary = job.run(job.Options(run, resume=True, max_steps=5, **common), reporter)
    assert summary.resumed_from == 2 and summary.steps == 5
    assert len(reporter.warnings) == 1 and summary.warnings == reporter.warnings
    assert reporter.warnings[0].startswith("skipped checkpoint step-0000004, which does not load")
    assert [r["step"] for r in logged_steps(run)] == [1, 2, 3, 4, 5]
