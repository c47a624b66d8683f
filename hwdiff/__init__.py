"""hwdiff: hardware-aware NAS by multi-conditioned discrete graph diffusion.

Importing the package is cheap (no torch, no timm), and so is looking a space up. A space's
networks register with timm when it first builds one (``get_space("nb201").create_model(...)``);
for ``timm.create_model("nb201", arch="|...|")`` import ``hwdiff.spaces.nb201.network`` first.
"""

__version__ = "0.1.0"
