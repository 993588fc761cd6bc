"""Training data: the four video formats, identity sampling, skipping bad videos, the sampler, augmentation.

Also home of the tiny datasets and config the other ``test_train_*`` modules use.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from fomm_cli.datasets import scan_videos, split_strip
from fomm_cli.errors import FommError, InputError, InputNotFound
from fomm_cli.media.image import write_image
from fomm_cli.media.video import write_video
from fomm_cli.train.augment import augment
from fomm_cli.train.config import AugmentationConfig, CropParams, FlipParams, JitterParams, ResizeParams
from fomm_cli.train.data import EpochSampler, PairDataset

# -- builders shared by the train tests --------------------------------------------------------------------

TINY_CONFIG = {
    "dataset_params": {
        "frame_shape": [32, 32, 3],
        "id_sampling": False,
        "augmentation_params": {"flip_param": {"horizontal_flip": True, "time_flip": True},
                                "jitter_param": {"brightness": 0.1, "contrast": 0.1, "saturation": 0.1, "hue": 0.1}},
    },
    "model_params": {
        "common_params": {"num_kp": 4, "num_channels": 3, "estimate_jacobian": True},
        "kp_detector_params": {"temperature": 0.1, "block_expansion": 8, "max_features": 32, "num_blocks": 3,
                               "scale_factor": 0.5},
        "generator_params": {"block_expansion": 8, "max_features": 32, "num_down_blocks": 2,
                             "num_bottleneck_blocks": 1, "estimate_occlusion_map": True,
                             "dense_motion_params": {"block_expansion": 8, "max_features": 32, "num_blocks": 3,
                                                     "scale_factor": 0.5}},
        "discriminator_params": {"scales": [1], "block_expansion": 8, "max_features": 32, "num_blocks": 3,
                                 "sn": True, "use_kp": True},
    },
    "train_params": {
        "num_epochs": 100, "num_repeats": 4, "epoch_milestones": [80], "lr_generator": 2.0e-4,
        "lr_discriminator": 2.0e-4, "lr_kp_detector": 2.0e-4, "batch_size": 4, "scales": [1, 0.5, 0.25],
        "transform_params": {"sigma_affine": 0.05, "sigma_tps": 0.005, "points_tps": 5},
        "loss_weights": {"generator_gan": 0, "discriminator_gan": 1, "feature_matching": [10, 10, 10],
                         "perceptual": [10, 10, 10, 10, 10], "equivariance_value": 10, "equivariance_jacobian": 10},
        "log_every": 1,
    },
}


def write_tiny_config(path: Path, generator_gan: float = 0, **train_params: object) -> Path:
    """The tiny 32x32 config (4 keypoints, widths 8-32) as an official-layout YAML."""
    config = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    config["train_params"]["loss_weights"]["generator_gan"] = generator_gan
    config["train_params"].update(train_params)
    path.write_text(yaml.safe_dump(config))
    return path


def moving_shapes(seed: int, num_frames: int, size: int) -> np.ndarray:
    """A disc and a square gliding over a shaded background: uint8 (T, size, size, 3)."""
    rng = np.random.default_rng(seed)
    shade = 0.7 + 0.3 * np.linspace(0, 1, size)[None, :, None]
    base = (rng.integers(40, 200, 3)[None, None] * shade).astype(np.uint8).repeat(size, 0)
    disc_color, square_color = rng.integers(0, 256, 3).tolist(), rng.integers(0, 256, 3).tolist()
    p0, v = rng.uniform(0.3, 0.7, 2), rng.uniform(-0.3, 0.3, 2)
    q0, w = rng.uniform(0.3, 0.7, 2), rng.uniform(-0.3, 0.3, 2)
    frames = []
    for t in np.linspace(0, 1, num_frames):
        img = base.copy()
        p = np.clip(p0 + v * np.sin(2 * np.pi * t), 0.15, 0.85) * size
        q = np.clip(q0 + w * np.cos(2 * np.pi * t), 0.15, 0.85) * size
        cv2.circle(img, (int(p[0]), int(p[1])), size // 6, disc_color, -1, cv2.LINE_AA)
        r = size // 8
        cv2.rectangle(img, (int(q[0]) - r, int(q[1]) - r), (int(q[0]) + r, int(q[1]) + r), square_color, -1)
        frames.append(img)
    return np.stack(frames)


def write_video_entry(folder: Path, name: str, frames: np.ndarray, fmt: str) -> Path:
    """One video in a dataset split: ``frames`` (folder of PNGs), ``strip`` (PNG), ``mp4`` or ``gif``."""
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "frames":
        (folder / name).mkdir()
        for t, frame in enumerate(frames):
            write_image(folder / name / f"{t:04d}.png", frame)
        return folder / name
    if fmt == "strip":
        path = folder / f"{name}.png"
        write_image(path, np.concatenate(list(frames), axis=1))
        return path
    return write_video(folder / f"{name}.{fmt}", frames, 10)


def write_dataset(root: Path, num_videos: int = 8, size: int = 32, num_frames: int = 12) -> Path:
    """ROOT/train with ``num_videos`` frame folders named ``id<i//2>#clip<i>`` and a small ROOT/test."""
    for split, count, offset in (("train", num_videos, 0), ("test", 2, 1000)):
        for i in range(count):
            write_video_entry(root / split, f"id{i // 2}#clip{i}", moving_shapes(offset + i, num_frames, size),
                              "frames")
    return root


# -- tests ----------------------------------------------------------------------------------------------


def _frames_of(video: np.ndarray) -> list[bytes]:
    return [f.tobytes() for f in video]


def test_all_four_formats_give_pairs_of_their_own_frames(tmp_path):
    videos = {fmt: moving_shapes(i, 6, 32) for i, fmt in enumerate(("frames", "strip", "mp4", "gif"))}
    for fmt, frames in videos.items():
        write_video_entry(tmp_path, f"v-{fmt}", frames, fmt)
    (tmp_path / "notes.txt").write_text("not a video")
    entries = scan_videos(tmp_path)
    assert [(e.path.name, e.kind) for e in entries] == [
        ("v-frames", "frames"), ("v-gif.gif", "file"), ("v-mp4.mp4", "file"), ("v-strip.png", "strip")]
    dataset = PairDataset(tmp_path, [32, 32, 3], id_sampling=False, augmentation=AugmentationConfig())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no video may be skipped
        for index, entry in enumerate(entries):
            for position in range(4):
                item = dataset[(index, 0, position)]
                assert item["source"].shape == item["driving"].shape == (3, 32, 32)
                assert item["source"].dtype == item["driving"].dtype
                fmt = entry.path.name.split(".")[0].removeprefix("v-")
                if fmt in ("frames", "strip"):  # lossless: the pair is two frames of this very video
                    own = _frames_of(videos[fmt])
                    assert item["source"].permute(1, 2, 0).numpy().tobytes() in own
                    assert item["driving"].permute(1, 2, 0).numpy().tobytes() in own
                else:  # lossy codecs: close to some frame of this video, far from the others
                    source = item["source"].permute(1, 2, 0).numpy().astype(float)
                    errors = {k: min(np.abs(source - f).mean() for f in v) for k, v in videos.items()}
                    assert min(errors, key=errors.get) == fmt


def test_other_frame_sizes_are_resized_to_frame_shape(tmp_path):
    write_video_entry(tmp_path, "big", moving_shapes(0, 4, 48), "frames")
    write_video_entry(tmp_path, "big-clip", moving_shapes(1, 4, 48), "mp4")
    dataset = PairDataset(tmp_path, [32, 32, 3], id_sampling=False, augmentation=AugmentationConfig())
    for index in range(2):
        assert dataset[(index, 0, 0)]["driving"].shape == (3, 32, 32)


def test_id_sampling_iterates_identities_and_picks_their_videos(tmp_path):
    colors = {"a#1": 10, "a#2": 20, "b#1": 200}
    for name, value in colors.items():
        write_video_entry(tmp_path, name, np.full((3, 16, 16, 3), value, np.uint8), "frames")
    dataset = PairDataset(tmp_path, [16, 16, 3], id_sampling=True, augmentation=AugmentationConfig())
    assert len(dataset) == 2
    seen = {int(dataset[(0, 0, p)]["source"][0, 0, 0]) for p in range(40)}
    assert seen == {10, 20}
    assert {int(dataset[(1, 0, p)]["source"][0, 0, 0]) for p in range(5)} == {200}


@pytest.mark.parametrize("bad", ["broken.mp4", "bad-strip.png", "single"])
def test_corrupt_and_too_short_videos_are_skipped_with_a_warning(tmp_path, bad):
    write_video_entry(tmp_path, "good", np.full((4, 16, 16, 3), 77, np.uint8), "frames")
    if bad == "single":
        write_video_entry(tmp_path, "single", np.zeros((1, 16, 16, 3), np.uint8), "frames")
    else:
        (tmp_path / bad).write_bytes(b"\x89PNG\x00 definitely not a video" * 10)
    dataset = PairDataset(tmp_path, [16, 16, 3], id_sampling=False, augmentation=AugmentationConfig())
    index = [e.path.name for e in dataset.entries].index(bad)
    with pytest.warns(RuntimeWarning, match=f"skipping video .*{bad}"):
        item = dataset[(index, 0, 0)]
    assert int(item["source"][0, 0, 0]) == 77  # replaced by the good video
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a known-bad video is not retried (no second warning)
        assert int(dataset[(index, 0, 1)]["driving"][0, 0, 0]) == 77


def test_a_dataset_without_readable_videos_is_a_clear_error(tmp_path):
    (tmp_path / "broken.gif").write_bytes(b"GIF89a nope")
    dataset = PairDataset(tmp_path, [16, 16, 3], id_sampling=False, augmentation=AugmentationConfig())
    with pytest.warns(RuntimeWarning), pytest.raises(FommError, match="no readable videos"):
        dataset[(0, 0, 0)]
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no videos"):
        PairDataset(tmp_path / "empty", [16, 16, 3], False, AugmentationConfig())
    with pytest.raises(InputNotFound, match="dataset folder not found"):
        PairDataset(tmp_path / "missing", [16, 16, 3], False, AugmentationConfig())


def test_strip_split_and_bad_strip_shapes():
    video = moving_shapes(3, 5, 16)
    assert np.array_equal(split_strip(np.concatenate(list(video), axis=1), (16, 16)), video)
    with pytest.raises(InputError, match="a 40x16 strip cannot be cut into 16x16 frames"):
        split_strip(np.zeros((16, 40, 3), np.uint8), (16, 16))


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tiff", ".webp", ".jpg"])
def test_training_and_evaluation_read_the_same_strips(tmp_path, suffix):
    """One listing and one strip rule: every image format fomm reads is a strip for both commands."""
    from fomm_cli.evaluate.reconstruct import iter_video, list_videos

    video = moving_shapes(4, 3, 16)
    for split in ("train", "test"):
        (tmp_path / split).mkdir()
        write_image(tmp_path / split / f"clip{suffix}", np.concatenate(list(video), axis=1))
    train = scan_videos(tmp_path / "train")
    assert [(e.path.name, e.kind) for e in train] == [(f"clip{suffix}", "strip")]
    assert [p.name for p in list_videos(tmp_path)] == [f"clip{suffix}"]  # the dataset root means its test/
    evaluated = np.stack(list(iter_video(tmp_path / "test" / f"clip{suffix}", (16, 16))))
    pair = PairDataset(tmp_path / "train", [16, 16, 3], False, AugmentationConfig())[(0, 0, 0)]
    assert evaluated.shape == (3, 16, 16, 3) and tuple(pair["source"].shape) == (3, 16, 16)
    if suffix in (".png", ".bmp", ".tiff"):  # lossless: both read the frames exactly
        assert np.array_equal(evaluated, video)
        assert any(np.array_equal(pair["source"].permute(1, 2, 0).numpy(), frame) for frame in video)


def test_sampler_shards_epochs_and_resumes_mid_epoch():
    def take(sampler: EpochSampler, n: int) -> list[tuple[int, int, int]]:
        it = iter(sampler)
        return [next(it) for _ in range(n)]

    ranks = [EpochSampler(10, 3, batch_size=4, seed=5, rank=r, world_size=2) for r in range(2)]
    assert ranks[0].steps_per_epoch == 3  # 30 samples // (4 x 2), the partial batch is dropped
    epoch0 = [take(s, 12) for s in ranks]
    positions = [p for keys in epoch0 for _, e, p in keys]
    assert sorted(positions) == list(range(24)) and all(e == 0 for keys in epoch0 for _, e, _ in keys)
    assert all(0 <= i < 10 for keys in epoch0 for i, _, _ in keys)
    continued = take(EpochSampler(10, 3, 4, 5, 0, 2), 20)
    resumed = take(EpochSampler(10, 3, 4, 5, 0, 2, start_epoch=0, start_batch=2), 8)
    assert resumed == continued[8:16]  # batch 2 of epoch 0, then epoch 1
    assert {e for _, e, _ in continued[12:]} == {1}
    with pytest.raises(FommError, match="fewer than one batch"):
        EpochSampler(3, 1, batch_size=4)


def test_same_key_same_sample_different_keys_differ(tmp_path):
    write_dataset(tmp_path, num_videos=2, size=16, num_frames=8)
    aug = AugmentationConfig(flip_param=FlipParams(True, True), jitter_param=JitterParams(0.1, 0.1, 0.1, 0.1))
    dataset = PairDataset(tmp_path / "train", [16, 16, 3], False, aug, seed=3)
    first, again = dataset[(0, 2, 7)], dataset[(0, 2, 7)]
    assert all(np.array_equal(first[k], again[k]) for k in ("source", "driving"))
    others = [dataset[(0, 2, p)] for p in range(8)]
    assert any(not np.array_equal(first["driving"], o["driving"]) for o in others)


def test_augmentation_keeps_pairs_consistent():
    rng = np.random.default_rng(0)
    frames = [moving_shapes(0, 2, 24)[0], moving_shapes(0, 2, 24)[1]]
    flips = AugmentationConfig(flip_param=FlipParams(horizontal_flip=True, time_flip=True))
    outcomes = set()
    for _ in range(40):
        a, b = augment(frames, flips, rng)
        for first, second, tag in ((frames[0], frames[1], "same"), (frames[1], frames[0], "time")):
            if np.array_equal(a, first) and np.array_equal(b, second):
                outcomes.add(tag)
            if np.array_equal(a, first[:, ::-1]) and np.array_equal(b, second[:, ::-1]):
                outcomes.add(tag + "+mirror")
    assert outcomes == {"same", "time", "same+mirror", "time+mirror"}

    uniform = [np.full((8, 8, 3), (200, 60, 30), np.uint8)] * 2
    jitter = AugmentationConfig(jitter_param=JitterParams(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.3))
    a, b = augment(uniform, jitter, rng)
    assert a.dtype == np.uint8 and np.array_equal(a, b)  # one set of factors for both frames
    resize_crop = AugmentationConfig(resize_param=ResizeParams([0.8, 1.2]), crop_param=CropParams([20, 22]))
    for _ in range(5):
        assert [f.shape for f in augment(frames, resize_crop, rng)] == [(20, 22, 3)] * 2
