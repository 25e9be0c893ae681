"""Import TensorFlow once, quietly: its C++ start-up chatter (CUDA probing on CPU machines, oneDNN
notices) is written before any log setting applies, so standard error is muted while it loads.

Every module of genmodels that needs TensorFlow imports this module first.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _import_quietly() -> None:
    if "tensorflow" in sys.modules or os.environ.get("GENMODELS_TF_VERBOSE"):
        import tensorflow  # noqa: F401

        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                import tensorflow  # noqa: F401
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


_import_quietly()
