"""An env's own reward terms as named streams: `env_terms(names)`.

Envs whose reward is a sum of named terms report each term as it enters the reward in
`info["reward_terms"]` ({term: [num_envs] float32}): the Playground adapter
(`envs/playground_adapter.py`, e.g. the locomotion envs' `tracking_lin_vel`,
`feet_air_time`, ...) and the Craftax adapter. `env_terms` turns every term into an
episodic stream of its name, weighted in the learner's sum by the traced coefficient
`reward_coefs[term]` (default 1.0), and rewrites `extrinsic` to the residual

    extrinsic = r − Σ_j term_j

(what the env adds beyond its named terms, e.g. where it clips their sum). At the
default coefficients the learner's summed reward is the env's reward; raising term j's
coefficient by δ adds δ · term_j. Place it first in a chain: it splits the `extrinsic`
stream it receives.

    env, params = jaxshape.envs.make("playground/Go1JoystickFlatTerrain")
    transform = env_terms(env=env, coefs={"feet_air_time": 2.0})
    # or from the CLI: --reward "env_terms"
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp

from jaxshape.errors import ConfigError
from jaxshape.rewards.base import NOT_INVARIANT, RewardTransform, Stream, no_state, no_update


def term_names(env: Any, params: Any = None, source: str = "reward_terms") -> tuple[str, ...]:
    """The keys of `info[source]` that `env.step` reports (() where
    it reports none): `env.reward_term_names` where the env has it, else, sorted, from one
    traced reset and step (no compilation)."""
    if source == "reward_terms" and hasattr(env, "reward_term_names"):
        return tuple(env.reward_term_names)
    params = env.default_params if params is None else params

    def one_step(key):
        _, state = env.reset(key, params)
        return env.step(key, state, env.action_space(params).sample(key), params)[-1]

    info = jax.eval_shape(one_step, jax.random.PRNGKey(0))
    return tuple(info.get(source, {}))


def env_terms(names: Sequence[str] | None = None, coefs: dict[str, float] | None = None,
              source: str = "reward_terms", name: str = "env_terms", env: Any = None,
              params: Any = None) -> RewardTransform:
    """One episodic stream per env reward term, and `extrinsic` rewritten to the residual.

    Args:
      names: the terms to split out (keys of `info[source]`); default every term `env`
        reports (`term_names(env)`). Terms not named stay in the residual; `()` splits
        out nothing (the reward passes through unchanged).
      coefs: default coefficients by term (1.0 for the others); they are traced
        (`reward_coefs[term]`), so sweeping them never recompiles.
      source: the info key holding the terms.
      name: this transform's name in a chain.
      env, params: the env to read the term names from when `names` is not given.
    """
    if names is None:
        if env is None:
            raise ConfigError("env_terms needs names=(...) or env= (an env that reports info['reward_terms'])")
        names = term_names(env, params, source)
        if not names:
            raise ConfigError(f"env {getattr(env, 'name', env)!r} reports no info[{source!r}]; env_terms needs an env "
                              "whose reward is a sum of named terms (envs/playground_adapter.py lists them)")
    names = tuple(names)
    coefs = dict(coefs or {})
    for term in names:
        if not term.isidentifier() or term == "extrinsic":
            raise ConfigError(f"env_terms: term name {term!r} must be an identifier other than 'extrinsic' "
                              "(it names a stream and a coefficient)")
    if len(set(names)) != len(names):
        raise ConfigError(f"env_terms: a term is named twice in {names}")
    if unknown := sorted(set(coefs) - set(names)):
        raise ConfigError(f"env_terms: coefs for {unknown}, which are not among the terms {names}")

    def apply_fn(state, transition, rewards, hparams):
        del hparams
        if not names:  # nothing split out: the env's reward passes through
            return rewards, state
        reported = transition.info.get(source)
        if reported is None:
            raise ConfigError(f"env_terms: the env's step info has no {source!r}; it has {sorted(transition.info)}")
        if missing := [t for t in names if t not in reported]:
            raise ConfigError(f"env_terms: the env reports no term {missing} in info[{source!r}]; "
                              f"it reports {sorted(reported)}")
        terms = {t: jnp.asarray(reported[t], jnp.float32) for t in names}
        residual = rewards["extrinsic"]
        for value in terms.values():
            residual = residual - value
        return {**rewards, "extrinsic": residual, **terms}, state

    streams = tuple(Stream(t, float(coefs.get(t, 1.0))) for t in names)
    return RewardTransform(no_state, apply_fn, no_update, streams=streams, invariance=NOT_INVARIANT, name=name)
