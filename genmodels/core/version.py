"""genmodels' version: the one place it is written (pyproject.toml and `genmodels.__version__` read it)."""

__version__ = "0.2.0.dev0"
