"""mainspring: production infrastructure for LLM agents."""

from mainspring.tools import tool

__version__ = "0.1.0"
__all__ = ["__version__", "tool"]
