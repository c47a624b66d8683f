"""hwdiff: hardware-aware NAS by multi-conditioned discrete graph diffusion.

Importing the package is cheap (no torch, no timm). A space's networks register with timm when the
space is first used, so ``timm.create_model("nb201", arch="|...|")`` works after
``get_space("nb201")`` or ``import hwdiff.spaces.nb201``.
"""

__version__ = "0.1.0"
