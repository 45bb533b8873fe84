"""jaxshape: a JAX-native RL engine with composable reward transforms.

The library: `jaxshape.envs` (environments under one contract), `jaxshape.rewards`
(reward transforms), `jaxshape.algos` (PPO, SAC) and the core modules beside them
(types, statistics, episodes, pytree helpers, errors). The application layer, which
only ever imports the library, never the other way round: `jaxshape.run` (driver, job,
checkpoints, logs, policy export), `jaxshape.sweep` and `jaxshape.cli`. Submodules
import lazily so that `import jaxshape` stays cheap.
"""

__version__ = "0.1.0"


def load_policy(run_dir, member=0):
    """A jittable greedy `act(obs, key)` from a run folder (see jaxshape.run.policy)."""
    from jaxshape.run.policy import load_policy as _load

    return _load(run_dir, member)
