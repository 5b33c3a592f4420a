"""The release number, read by ``pyproject.toml`` (``[tool.setuptools.dynamic]``) and ``nn.__version__``."""

__version__ = "0.1.0"
