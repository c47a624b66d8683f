"""NAS-Bench-201 search space and its networks."""

from hwdiff.spaces.nb201.space import EDGES, OPS, NB201Space, format_ops, nb201_order, parse_ops

__all__ = ["EDGES", "OPS", "NB201Space", "format_ops", "nb201_order", "parse_ops"]
