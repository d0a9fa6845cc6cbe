"""The extraction worker: the program Azure Batch tasks (and the local pool) run.

``python -m extract_worker run --task KIND --input PATH --output PATH`` opens one recording
through the per-format readers in :mod:`extract_worker.readers`, runs one task kind from
:mod:`extract_worker.extractors` into a staging directory and commits it with a ``_SUCCESS``
marker. It never imports azure-functions or the Functions app.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
