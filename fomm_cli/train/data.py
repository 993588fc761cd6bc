"""Training data: (source, driving) frame pairs from the videos in ``ROOT/train``.

Videos are listed as ``fomm_cli.datasets`` lists them for training and evaluation alike: folders of frames,
video files, or strips of frames side by side (each ``frame_shape`` wide, as in the reference datasets). With
``id_sampling`` the dataset iterates over identities (the part of a video's name before ``#``) and picks one
of the identity's videos at random.

Randomness is a pure function of (seed, epoch, position in the epoch): the sampler hands the dataset keys
rather than bare indices, so a resumed run sees exactly the batches the interrupted one would have, and
worker processes need no RNG state of their own. Unreadable or too-short videos are skipped with a
warning (once per worker) and another video is drawn in their place.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from fomm_cli.datasets import VideoEntry, scan_videos, split_strip
from fomm_cli.errors import FommError, InputError
from fomm_cli.media import frame_files
from fomm_cli.media.image import read_image, resize
from fomm_cli.media.video import read_frames
from fomm_cli.train.augment import augment
from fomm_cli.train.config import AugmentationConfig

SampleKey = tuple[int, int, int]  # (item index, epoch, position in the epoch)
_READ_ERRORS = (FommError, OSError, ValueError, cv2.error)


class PairDataset(Dataset):
    """Items: ``{"source", "driving"}`` uint8 3 x H x W tensors, two frames of one video (source first in
    time unless time-flipped). Indexed by ``(item, epoch, position)`` keys from ``EpochSampler``.

    Decoded video files and strips are kept in a per-process LRU cache of ``cache_bytes``.
    """

    def __init__(self, folder: Path, frame_shape: list[int], id_sampling: bool, augmentation: AugmentationConfig,
                 seed: int = 0, cache_bytes: int = 256 << 20) -> None:
        self.folder = folder
        self.entries = scan_videos(folder)
        if not self.entries:
            raise InputError(folder, "holds no videos (folders of frames, video files or strip images)")
        self.size = (int(frame_shape[0]), int(frame_shape[1]))
        self.augmentation = augmentation
        self.seed = seed
        if id_sampling:
            groups: dict[str, list[int]] = {}
            for i, entry in enumerate(self.entries):
                groups.setdefault(entry.identity, []).append(i)
            self.groups = list(groups.values())
        else:
            self.groups = [[i] for i in range(len(self.entries))]
        self._bad: set[int] = set()
        self._cache: OrderedDict[Path, np.ndarray] = OrderedDict()
        self._cache_bytes = cache_bytes

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, key: SampleKey) -> dict[str, torch.Tensor]:
        index, epoch, position = key
        rng = np.random.default_rng([self.seed, epoch, position])
        group = self.groups[index]
        while True:
            candidates = [i for i in group if i not in self._bad]
            if not candidates:
                usable = [g for g in self.groups if any(i not in self._bad for i in g)]
                if not usable:
                    raise FommError(f"no readable videos left in {self.folder}")
                group = usable[int(rng.integers(len(usable)))]
                continue
            entry_index = candidates[int(rng.integers(len(candidates)))]
            entry = self.entries[entry_index]
            try:
                frames = self._read_pair(entry, rng)
                break
            except _READ_ERRORS as err:
                self._bad.add(entry_index)
                reason = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
                warnings.warn(f"skipping video {entry.path}: {reason}", RuntimeWarning, stacklevel=2)
        frames = augment(frames, self.augmentation, rng)
        source, driving = (torch.from_numpy(resize(f, self.size).transpose(2, 0, 1)) for f in frames)
        return {"source": source, "driving": driving}

    # -- reading ---------------------------------------------------------------------------------

    def _read_pair(self, entry: VideoEntry, rng: np.random.Generator) -> list[np.ndarray]:
        if entry.kind == "frames":  # only the two chosen frames are decoded
            files = frame_files(entry.path)
            first, second = self._pick(len(files), rng)
            return [resize(read_image(files[first]), self.size), resize(read_image(files[second]), self.size)]
        video = self._decoded(entry)
        first, second = self._pick(len(video), rng)
        return [video[first], video[second]]

    @staticmethod
    def _pick(num_frames: int, rng: np.random.Generator) -> tuple[int, int]:
        """Two frame indices in time order (with replacement, as the reference)."""
        if num_frames < 2:
            raise ValueError(f"too short: {num_frames} frame(s), need at least 2")
        first, second = np.sort(rng.integers(num_frames, size=2))
        return int(first), int(second)

    def _decoded(self, entry: VideoEntry) -> np.ndarray:
        video = self._cache.get(entry.path)
        if video is not None:
            self._cache.move_to_end(entry.path)
            return video
        if entry.kind == "strip":
            video = split_strip(read_image(entry.path), self.size, entry.path)
        else:
            video = read_frames(entry.path, size=self.size)
        if video.nbytes <= self._cache_bytes:
            self._cache[entry.path] = video
            total = sum(v.nbytes for v in self._cache.values())
            while total > self._cache_bytes:
                _, evicted = self._cache.popitem(last=False)
                total -= evicted.nbytes
        return video


class EpochSampler(Sampler[SampleKey]):
    """An endless stream of ``(item, epoch, position)`` keys for one rank, epoch after epoch.

    An epoch is a seeded permutation of ``num_items * num_repeats`` positions, cut to a whole number of
    global batches (``batch_size * world_size``; the reference drops the last partial batch too). Global
    batch b goes to the ranks as consecutive slices, rank r taking slice r. ``start_epoch`` and
    ``start_batch`` resume in the middle of an epoch.
    """

    def __init__(self, num_items: int, num_repeats: int, batch_size: int, seed: int = 0, rank: int = 0,
                 world_size: int = 1, start_epoch: int = 0, start_batch: int = 0) -> None:
        self.num_items = num_items
        self.epoch_length = num_items * num_repeats
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.steps_per_epoch = self.epoch_length // (batch_size * world_size)
        if self.steps_per_epoch < 1:
            raise FommError(
                f"an epoch has {num_items} item(s) x {num_repeats} repeat(s) = {self.epoch_length} samples, fewer "
                f"than one batch of {batch_size * world_size}: lower the batch size or raise num_repeats")
        self.start_epoch = start_epoch
        self.start_batch = start_batch

    def __iter__(self) -> Iterator[SampleKey]:
        epoch, batch = self.start_epoch, self.start_batch
        global_batch = self.batch_size * self.world_size
        while True:
            order = np.random.default_rng([self.seed, epoch]).permutation(self.epoch_length)
            for b in range(batch, self.steps_per_epoch):
                start = b * global_batch + self.rank * self.batch_size
                for position in range(start, start + self.batch_size):
                    yield int(order[position]) % self.num_items, epoch, position
            epoch, batch = epoch + 1, 0


def _worker_init(_: int) -> None:
    cv2.setNumThreads(1)  # workers are already one per core; cv2's own pool would oversubscribe


def make_loader(dataset: PairDataset, sampler: EpochSampler, workers: int, pin_memory: bool) -> DataLoader:
    """Batches of ``{"source", "driving"}`` uint8 B x 3 x H x W, decoded in ``workers`` processes."""
    # A private generator: creating the iterator must not draw from the global RNG, whose state the
    # checkpoints restore (a resumed run would otherwise see different random warps). Workers are spawned,
    # not forked: a fork of a process whose thread pools (cv2, OpenMP) have run can deadlock, and spawned
    # workers are direct children that notice when a killed trainer is gone.
    return DataLoader(dataset, batch_size=sampler.batch_size, sampler=sampler, num_workers=workers,
                      pin_memory=pin_memory, persistent_workers=workers > 0, worker_init_fn=_worker_init,
                      prefetch_factor=2 if workers > 0 else None,
                      multiprocessing_context="spawn" if workers > 0 else None,
                      generator=torch.Generator().manual_seed(sampler.seed))
