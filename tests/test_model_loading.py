"""Checkpoints that are not what they claim, names that must not be shadowed, and how a model's domain is
decided: one line naming the problem (and the tensor), never a traceback."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess

import numpy as np
import pytest
import torch

from fomm_cli.checkpoints import load_model, save_pretrained
from fomm_cli.errors import CheckpointError, UntrustedCheckpoint

from .helpers import PARITY, fomm_script, tiny_model_dir


def official(tmp_path, name="ckpt.pth.tar", edit=None):
    """A copy of the parity checkpoint 'a', optionally edited (``edit(data)`` changes the dict in place)."""
    data = torch.load(PARITY / "a.pth.tar", weights_only=True)
    if edit is not None:
        edit(data)
    path = tmp_path / name
    torch.save(data, path)
    return path


def fomm(*args, cwd=None, env=None):
    return subprocess.run([str(fomm_script()), *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}, timeout=120)


def set_tensor(part, key, fn):
    def edit(data):
        data[part][key] = fn(data[part][key])
    return edit


@pytest.mark.parametrize(("edit", "problem", "key"), [
    (set_tensor("generator", "final.weight", lambda t: t.clone().fill_(float("nan"))), "NaN or infinite",
     "generator.final.weight"),
    (set_tensor("kp_detector", "kp.bias", lambda t: t.clone().fill_(float("inf"))), "NaN or infinite",
     "kp_detector.kp.bias"),
    (set_tensor("generator", "final.weight", lambda t: t.to(torch.int32)), "dtype torch.int32",
     "generator.final.weight"),
    (set_tensor("generator", "final.weight", lambda t: t[:1]), "shape", "generator.final.weight"),
    (lambda data: data.pop("kp_detector"), "a part is missing", "kp_detector"),
    (lambda data: data.update(generator={}), "holds no tensors", "generator"),
    (lambda data: data["kp_detector"].pop("kp.weight"), "tensor missing", "kp.weight"),
    (lambda data: data["generator"].update({"extra.weight": torch.zeros(1)}), "unexpected", "generator.extra.weight"),
])
def test_malformed_official_checkpoints_name_the_problem_and_the_key(tmp_path, edit, problem, key):
    path = official(tmp_path, edit=edit)
    with pytest.raises(CheckpointError) as caught:
        load_model(path)
    assert problem in caught.value.problem and key in (caught.value.key or "")


@pytest.mark.parametrize(("content", "problem"), [
    (b"", "the file is empty"),
    (b"model weights, honest\n", "not a checkpoint"),
    (b"\x89PNG\r\n\x1a\n" + bytes(64), "not a checkpoint"),
    (b"PK\x03\x04" + bytes(64), "not a readable PyTorch checkpoint"),
])
def test_files_that_are_not_checkpoints(tmp_path, content, problem):
    path = tmp_path / "x.pth.tar"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as caught:
        load_model(path)
    assert problem in str(caught.value) and not isinstance(caught.value, UntrustedCheckpoint)


def test_only_a_pickle_needing_code_is_told_about_trust(tmp_path):
    path = official(tmp_path, edit=lambda data: data.update(extra=np.zeros(2)))
    with pytest.raises(UntrustedCheckpoint, match="numpy"):
        load_model(path)
    assert load_model(path, trust=True) is not None
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps({"generator": 1}, protocol=2))
    with pytest.raises(CheckpointError) as caught:
        load_model(plain)
    assert not isinstance(caught.value, UntrustedCheckpoint)
    result = fomm("models", "info", path)
    assert result.returncode == 1 and "--trust-checkpoint" in result.stderr and "Traceback" not in result.stderr
    result = fomm("models", "info", plain)
    assert result.returncode == 1 and "--trust-checkpoint" not in result.stderr


def test_impossible_config_values_in_our_format(tmp_path):
    folder = tiny_model_dir(tmp_path / "tiny")
    config = json.loads((folder / "config.json").read_text())
    config["image_size"] = [0, 0]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"impossible config value: image_size \[0, 0\]"):
        load_model(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_model(folder)


def test_cli_reports_a_malformed_checkpoint_in_one_line(tmp_path):
    path = official(tmp_path, edit=set_tensor("generator", "final.weight", lambda t: t.clone().fill_(float("nan"))))
    result = fomm("animate", PARITY / "source.png", PARITY / "source.png", "-o", tmp_path / "o.mp4", "-c", path)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "NaN or infinite values (generator.final.weight)" in result.stderr


def test_local_files_never_shadow_registry_names(tmp_path):
    (tmp_path / "demo").mkdir()  # an unrelated folder named like the bundled model
    (tmp_path / "vox-adv").write_bytes(b"")
    result = fomm("models", "info", "demo", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["name"] == "demo"
    result = fomm("models", "info", "vox-adv", cwd=tmp_path, env={"FOMM_HOME": str(tmp_path / "home"),
                                                                  "HF_HOME": str(tmp_path / "hf")})
    assert result.returncode == 1 and "vox-adv" in result.stderr and "Traceback" not in result.stderr
    model_dir = tiny_model_dir(tmp_path / "mine")
    result = fomm("models", "info", "mine", cwd=tmp_path)  # not registered, exists: a path
    assert result.returncode == 0 and "not a registered model name" in result.stderr
    assert json.loads(fomm("models", "info", "mine", "--json", cwd=tmp_path).stdout)["path"] == "mine"
    assert model_dir.is_dir()
    result = fomm("models", "info", "nosuch", cwd=tmp_path)
    assert result.returncode == 1 and "unknown model 'nosuch'" in result.stderr and "--checkpoint" in result.stderr


def test_domain_of_a_checkpoint_from_its_name_the_option_or_its_config(tmp_path):
    renamed = tmp_path / "vox-cpk.pth.tar"
    shutil.copy(PARITY / "a.pth.tar", renamed)
    info = json.loads(fomm("models", "info", renamed, "--json").stdout)
    assert (info["domain"], info["domain_from"]) == ("face", "file name")
    plain = json.loads(fomm("models", "info", PARITY / "a.pth.tar", "--json").stdout)
    assert (plain["domain"], plain["domain_from"]) == (None, "unknown")
    converted = tmp_path / "vox"
    assert fomm("models", "convert", renamed, converted).returncode == 0
    info = json.loads(fomm("models", "info", converted, "--json").stdout)
    assert (info["domain"], info["domain_from"]) == ("face", "config")


def test_save_pretrained_replaces_only_a_model_folder(tmp_path):
    model = load_model(PARITY / "a.pth.tar")
    target = save_pretrained(model, tmp_path / "out")
    save_pretrained(model, target)  # a model folder is replaced
    (target / "notes.txt").write_text("mine")
    with pytest.raises(Exception, match="holds other files"):
        save_pretrained(model, target)
    assert (target / "notes.txt").read_text() == "mine"
