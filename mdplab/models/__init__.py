"""Model types: exact arrays, validation at construction, samplers."""

from mdplab.models.tabular import ROW_SUM_TOL, CSRTransitions, TabularMDP

__all__ = ["ROW_SUM_TOL", "CSRTransitions", "TabularMDP"]
