"""Trained policies out of run folders.

    act = jaxshape.load_policy("runs/CartPole-v1-ppo-...")
    actions = jax.jit(act)(obs_batch, key)

The policy is the greedy (deterministic) one of the newest readable checkpoint.
"""

from __future__ import annotations

import pathlib
from typing import Any, Callable

import jax

from jaxshape.errors import ConfigError


def restore_run(run_dir: str | pathlib.Path) -> tuple[Any, Any, Any, dict]:
    """(learner, member_hparams, state of every member, saved config) of a run folder."""
    from jaxshape.run import builder
    from jaxshape.run.checkpoints import Checkpoints, check_format
    from jaxshape.run.logs import read_config

    saved = read_config(run_dir)
    check_format(run_dir, saved)
    learner = builder.build_learner(saved["algo"], saved["config"], saved.get("reward", ""),
                                    saved.get("reward_candidates", ""))
    member_hparams = builder.hparams_from_json(saved["algo"], saved["hparams"])
    keys = jax.vmap(jax.random.PRNGKey)(jax.numpy.asarray(saved["seeds"], jax.numpy.uint32))
    abstract = jax.eval_shape(jax.vmap(learner.init), keys, member_hparams)
    checkpoints = Checkpoints(pathlib.Path(run_dir) / "checkpoints")
    restored = checkpoints.restore(abstract)
    checkpoints.close()
    if restored is None:
        raise ConfigError(f"{run_dir} has no readable checkpoint yet")
    return learner, member_hparams, restored[1], saved


def load_policy(run_dir: str | pathlib.Path, member: int = 0) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """A jittable greedy `act(obs, key) -> actions` for a batch of observations."""
    learner, _, states, _ = restore_run(run_dir)
    if learner.transform.observe is not None:
        raise ConfigError("this policy also reads its reward transform's state; evaluate it with `jaxshape eval`")
    if getattr(learner, "recurrent", False):
        raise ConfigError("this policy is recurrent (it carries a memory between steps); evaluate it with "
                          "`jaxshape eval`")
    state = jax.tree.map(lambda x: x[member], states)

    def act(obs: jax.Array, key: jax.Array) -> jax.Array:
        return learner.act(state, obs, key, deterministic=True)

    return act
