"""Imports TensorFlow, quietly: `import genmodels.backend` before TensorFlow does it (the public path; the code
lives in `genmodels.core.backend`)."""

import genmodels.core.backend  # noqa: F401
