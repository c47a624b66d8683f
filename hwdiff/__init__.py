"""hwdiff: hardware-aware NAS by multi-conditioned discrete graph diffusion.

Importing the package registers its networks with timm, so that
``timm.create_model("nb201", arch="|...|")`` works after ``import hwdiff``.
"""

__version__ = "0.1.0"

from hwdiff import spaces as _spaces  # noqa: E402,F401  (registers the timm models)
