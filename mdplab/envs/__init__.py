"""Named environment families, each a plain function returning a TabularMDP."""
from mdplab.envs.garnet import garnet
__all__=["garnet"]
