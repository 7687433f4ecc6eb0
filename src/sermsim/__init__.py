"""sermsim: a quantitative systems pharmacology simulator of selective estrogen receptor modulators.

For research and education only; not medical advice.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sermsim")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

DISCLAIMER = "sermsim is for research and education only; it is not medical advice."

__all__ = ["DISCLAIMER", "__version__"]
