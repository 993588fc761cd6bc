"""fomm: animate a still image with the motion of a driving video (First Order Motion Model).

Library use::

    from fomm_cli import Animator, load_pretrained
    loaded = load_pretrained("vox-adv")          # or load_pretrained(checkpoint="vox-adv-cpk.pth.tar")
    animator = Animator(loaded.model, device="auto")
    for frame in animator.animate(source, driving_frames):   # uint8 H x W x 3 at model size
        ...

Imports are lazy so that ``import fomm_cli`` (and ``fomm --help``) does not load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Animator", "list_models", "load_pretrained"]

if TYPE_CHECKING:
    from fomm_cli.animate import Animator
    from fomm_cli.pretrained import load_pretrained
    from fomm_cli.registry import list_models

_LAZY = {
    "Animator": "fomm_cli.animate",
    "load_pretrained": "fomm_cli.pretrained",
    "list_models": "fomm_cli.registry",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fomm_cli' has no attribute {name!r}")
