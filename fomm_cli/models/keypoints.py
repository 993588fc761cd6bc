"""The keypoint value type passed between the networks and the motion math."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Keypoints:
    """Keypoints of a batch of images.

    value: B x K x 2, (x, y) in [-1, 1]. jacobian: B x K x 2 x 2 local affine maps, or None for a
    zero-order model (estimate_jacobian False).
    """

    value: torch.Tensor
    jacobian: torch.Tensor | None = None

    def __getitem__(self, index: int | slice) -> Keypoints:
        jac = None if self.jacobian is None else self.jacobian[index]
        return Keypoints(self.value[index], jac)

    def __len__(self) -> int:
        return self.value.shape[0]

    def to(self, *args: Any, **kwargs: Any) -> Keypoints:
        jac = None if self.jacobian is None else self.jacobian.to(*args, **kwargs)
        return Keypoints(self.value.to(*args, **kwargs), jac)

    def detach(self) -> Keypoints:
        jac = None if self.jacobian is None else self.jacobian.detach()
        return Keypoints(self.value.detach(), jac)

    def expand(self, batch: int) -> Keypoints:
        """Broadcast a batch of one to ``batch`` (no copy)."""
        jac = None if self.jacobian is None else self.jacobian.expand(batch, -1, -1, -1)
        return Keypoints(self.value.expand(batch, -1, -1), jac)

    @staticmethod
    def cat(items: list[Keypoints]) -> Keypoints:
        jacobians = [k.jacobian for k in items if k.jacobian is not None]
        jac = torch.cat(jacobians) if jacobians else None
        return Keypoints(torch.cat([k.value for k in items]), jac)
