"""jaxshape: a JAX-native RL engine with composable reward transforms.

Submodules import lazily so that `import jaxshape` stays cheap:
`jaxshape.envs`, `jaxshape.algos`, `jaxshape.rewards`.
"""

__version__ = "0.1.0"


def load_policy(run_dir, member=0):
    """A jittable greedy `act(obs, key)` from a run folder (see jaxshape.policy)."""
    from jaxshape.policy import load_policy as _load

    return _load(run_dir, member)
