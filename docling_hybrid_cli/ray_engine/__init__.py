"""``convert --ray``: the documents of a batch as Ray tasks across a cluster.

Ray does the distribution; our code stays the per-document pipeline. The
parts, driver to worker:

* :mod:`.cluster` joins the cluster (or starts a local instance) and makes
  the run's Ray objects;
* :mod:`.driver` runs the batch: per document the ordinary
  :func:`~docling_hybrid_cli.pipeline.convert_document` on the driver (lock,
  checkpoints, ordered atomic output) with :class:`.engine.RayPages` as its
  page engine, several documents at once;
* :mod:`.tasks` is the worker: a streaming generator task that runs the
  render → chain pipeline on a page range and yields pages as they finish;
* :mod:`.coordinator` is the one actor of the run: the replicas' shared
  request budget (:mod:`.budget`) and the ledger of pages already back
  (:mod:`.ledger`) that a retried task consults.

Nothing here imports Ray at module level, and the CLI imports this package
only for ``--ray``.
"""

from __future__ import annotations

import importlib

from ..errors import UsageError

__all__ = ["INSTALL_HINT", "require_ray"]

INSTALL_HINT = "pip install 'docling-hybrid-ocr[ray]'"


def require_ray() -> None:
    """A :class:`UsageError` (exit 2) naming the install command when Ray is not importable."""
    try:
        importlib.import_module("ray")
    except ImportError:
        raise UsageError(f"--ray needs Ray: {INSTALL_HINT}") from None
