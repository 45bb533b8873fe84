"""Reward transforms composed by name: `jaxshape train --reward "count(beta=0.05)+rnd"`.

A spec is `+`-separated terms, applied left to right as `chain(...)`; each term is a
transform name with optional `key=value` arguments (numbers, booleans, strings). Names
that need a callable (a potential, a cell locator, goal sources) take it by name from
the small libraries below, with defaults chosen from the env where one fits.

    shaping(potential=goal_distance)           potential-based shaping
    goal(eps=0.1, kind=sparse)                 goal reward from achieved/desired goals
    count(beta=0.01, hash=simhash)             #Exploration counts
    rnd(coef=1, lr=1e-3)                       random network distillation
    icm(eta=0.01)  e3b(lam=0.1)  noveld(alpha=0.5)
    coverage(radius=0)  visits  logdet          submodular marginal gains / the additive baseline
    normalize(stream=rnd)  clip(stream=...)  scale(stream=..., factor=...)  symlog(stream=...)
    env_terms(names=("a", "b"))                 the env's own reward terms as streams (default: all it reports)
    effort(coef=1)                              the action cost −‖a‖² as the stream `effort` (continuous actions)
    preference(oracle=true_return, queries=64)  a reward model learned from teacher-labelled segment pairs
    gail(demos=FILE, episodes=4)  airl(demos=FILE)   adversarial imitation of the expert transitions in FILE
"""

from __future__ import annotations

import re
from typing import Any, Callable

import jax.numpy as jnp

from jaxshape.errors import ConfigError
from jaxshape.keyvalues import parse_key_values
from jaxshape.rewards import base


def _goal_distance(obs):
    """−‖position − goal‖ for observations laid out as [position(2), goal(2)] (PointGoal-v0)."""
    return -jnp.linalg.norm(obs[..., 0:2] - obs[..., 2:4], axis=-1)


def _pole_upright(obs):
    """−|pole angle| for CartPole's [x, ẋ, θ, θ̇]."""
    return -jnp.abs(obs[..., 2])


def _deepsea_depth(obs):
    """Row of the agent in DeepSea's one-hot grid (deeper is closer to the reward)."""
    grid = obs.reshape(obs.shape[:-2] + (-1,)) if obs.ndim > 2 else obs
    size = round(grid.shape[-1] ** 0.5)
    return jnp.argmax(grid, axis=-1) // size / size


POTENTIALS: dict[str, Callable] = {
    "goal_distance": _goal_distance,
    "pole_upright": _pole_upright,
    "deepsea_depth": _deepsea_depth,
}


def _env_instance(env_name: str | None):
    if not env_name:
        return None, None
    from jaxshape.envs import make

    return make(env_name)


def _num_actions(env_name: str | None) -> int | None:
    env, params = _env_instance(env_name)
    if env is None:
        return None
    space = env.action_space(params)
    return int(space.n) if hasattr(space, "n") else None


def _grid(env_name: str | None, args: dict) -> dict:
    """Coverage-style transforms: default to the coverage gridworld's cells."""
    from jaxshape.rewards.submodular import Locator, grid_locator, info_locator

    env, _ = _env_instance(env_name)
    size = getattr(env, "size", None)
    if "shape" not in args:
        if size is None:
            raise ConfigError("coverage/visits need shape=... (cells) unless --env is Coverage-grid")
        args["shape"] = (size, size)
    if size is not None:
        # s′ from the cell the env reports; the episode's first cell from its observation
        args.setdefault("locate", Locator(info_locator(args["shape"], key="cell").next,
                                          start=grid_locator(args["shape"]).start))
    return args


def _shaping(env_name, args):
    from jaxshape.rewards.shaping import potential_shaping

    name = args.pop("potential", None)
    if name not in POTENTIALS:
        raise ConfigError(f"shaping needs potential=<name>, one of {', '.join(sorted(POTENTIALS))}; got {name!r}")
    return potential_shaping(POTENTIALS[name], **args)


def _goal(env_name, args):
    from jaxshape.rewards.goals import goal_reward

    args.setdefault("achieved_fn", "achieved_goal")
    args.setdefault("desired_fn", "desired_goal")
    return goal_reward(**args)


def _env_terms(env_name, args):
    from jaxshape.rewards.env_terms import env_terms

    if isinstance(args.get("names"), str):  # a single bare name
        args["names"] = (args["names"],)
    if "names" not in args:
        args["env"], args["params"] = _env_instance(env_name)
    return env_terms(**args)


def _with_actions(factory_path: str) -> Callable:
    def build(env_name, args):
        module, name = factory_path.rsplit(".", 1)
        factory = getattr(__import__(module, fromlist=[name]), name)
        if "num_actions" not in args and _num_actions(env_name) is not None:
            args["num_actions"] = _num_actions(env_name)
        return factory(**args)

    return build


def _plain(factory_path: str, prepare: Callable | None = None) -> Callable:
    def build(env_name, args):
        module, name = factory_path.rsplit(".", 1)
        factory = getattr(__import__(module, fromlist=[name]), name)
        return factory(**(prepare(env_name, args) if prepare else args))

    return build


BUILDERS: dict[str, Callable[[str | None, dict], base.RewardTransform]] = {
    "shaping": _shaping,
    "goal": _goal,
    "count": _plain("jaxshape.rewards.counts.count_bonus"),
    "rnd": _plain("jaxshape.rewards.rnd.rnd"),
    "icm": _with_actions("jaxshape.rewards.icm.icm"),
    "e3b": _plain("jaxshape.rewards.e3b.e3b"),
    "noveld": _plain("jaxshape.rewards.noveld.noveld"),
    "coverage": _plain("jaxshape.rewards.submodular.coverage", _grid),
    "visits": _plain("jaxshape.rewards.submodular.additive_visits", _grid),
    "logdet": _plain("jaxshape.rewards.submodular.logdet_coverage"),
    "normalize": _plain("jaxshape.rewards.normalize.normalize_returns"),
    "clip": _plain("jaxshape.rewards.normalize.clip"),
    "scale": _plain("jaxshape.rewards.normalize.scale"),
    "symlog": _plain("jaxshape.rewards.normalize.symlog"),
    "env_terms": _env_terms,
    "effort": _plain("jaxshape.rewards.terms.effort"),
}

# One spec per registered name that trains on the env beside it: the test suite trains
# each through `jaxshape train` (checkpoint, evaluation, resume), so a name added to
# BUILDERS without an example here fails the suite.
EXAMPLES: dict[str, tuple[str, str]] = {
    "shaping": ("shaping(potential=pole_upright)", "CartPole-v1"),
    "goal": ("goal(eps=0.1)", "PointGoal-v0"),
    "count": ("count(beta=0.05)", "DeepSea-bsuite"),
    "rnd": ("rnd(coef=0.5)", "CartPole-v1"),
    "icm": ("icm", "CartPole-v1"),
    "e3b": ("e3b", "CartPole-v1"),
    "noveld": ("noveld", "CartPole-v1"),
    "coverage": ("coverage(radius=0)", "Coverage-grid"),
    "visits": ("visits", "Coverage-grid"),
    "logdet": ("logdet", "CartPole-v1"),
    "normalize": ("rnd+normalize(stream=rnd)", "CartPole-v1"),
    "clip": ("clip", "CartPole-v1"),
    "scale": ("scale", "CartPole-v1"),
    "symlog": ("symlog", "CartPole-v1"),
    "effort": ("effort(coef=0.01)", "Pendulum-v1"),
    # the plumbing, with no terms split out: an env that reports info["reward_terms"] (Craftax, Playground)
    # compiles for a minute; tests/test_craftax_env.py trains `env_terms` on Craftax's real terms
    "env_terms": ("env_terms(names=())", "CartPole-v1"),
}

# --- preference rewards (preference.py)
BUILDERS["preference"] = _with_actions("jaxshape.rewards.preference.preference_reward")
EXAMPLES["preference"] = ("preference(queries=4, segment_length=4, epochs=2, batch_size=4, hidden_sizes=(8,))",
                          "CartPole-v1")
# --- end preference rewards
# --- adversarial imitation (imitation.py): the demos file is read and checked against --env here
def _imitation(kind: str) -> Callable:
    def build(env_name, args):
        from jaxshape.demos import check_demos, load_demos
        from jaxshape.rewards.imitation import adversarial_imitation

        path = args.pop("demos", None)
        if not isinstance(path, str) or not path:
            raise ConfigError(f"{kind} needs demos=FILE, an .npz of expert transitions (write one with "
                              "`jaxshape eval RUN --save-transitions FILE`)")
        demos = load_demos(path, args.pop("episodes", None))
        env, params = _env_instance(env_name)
        if env is not None:
            check_demos(demos, env, params, where=f"{kind}(demos={path})")
            if "num_actions" not in args and _num_actions(env_name) is not None:
                args["num_actions"] = _num_actions(env_name)
        return adversarial_imitation(demos, kind, **args)

    return build


BUILDERS.update(gail=_imitation("gail"), airl=_imitation("airl"))
# the registry test writes a small CartPole demos file and puts its path in place of {demos}
EXAMPLES.update(gail=("gail(demos={demos})", "CartPole-v1"),
                airl=("airl(demos={demos}, grad_penalty=1)", "CartPole-v1"))
# --- end adversarial imitation

_TERM = re.compile(r"^\s*([a-z_0-9]+)\s*(?:\((.*)\))?\s*$", re.S)


def _arguments(term: str, body: str | None) -> dict[str, Any]:
    return parse_key_values(body or "", lambda part: f"bad argument {part!r} in reward term {term!r}: write key=value")


def parse_reward_spec(spec: str, env_name: str | None = None) -> base.RewardTransform:
    """Build the transform a spec names (see the module docstring)."""
    transforms = []
    for term in filter(None, (t.strip() for t in re.split(r"\+(?![^()]*\))", spec))):
        match = _TERM.match(term)
        if match is None:
            raise ConfigError(f"bad reward term {term!r}: write name(key=value, ...); names: {', '.join(BUILDERS)}")
        name, body = match.groups()
        if name not in BUILDERS:
            raise ConfigError(f"unknown reward transform {name!r}: choose from {', '.join(sorted(BUILDERS))}")
        try:
            transforms.append(BUILDERS[name](env_name, _arguments(term, body)))
        except ConfigError:
            raise
        except (TypeError, ValueError) as err:  # an argument the transform does not take, or a bad value
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ConfigError(f"reward term {term!r}: {reason}") from None
    if not transforms:
        raise ConfigError(f"empty reward spec {spec!r}: name at least one of {', '.join(sorted(BUILDERS))}")
    from jaxshape.rewards.combine import chain

    return transforms[0] if len(transforms) == 1 else chain(*transforms)


__all__ = ["BUILDERS", "EXAMPLES", "POTENTIALS", "parse_reward_spec"]
