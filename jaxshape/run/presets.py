"""Named settings for one algorithm on a family of envs: `--preset minatar`.

A preset is static config overrides (changing them recompiles) and traced
hyperparameter overrides, the same for every env it covers, optionally refined per
env. Explicit values win: flags, a sweep's config, grid and random axes, keyword
arguments. `apply` returns the merged settings and a record of what the preset set,
which the CLI saves in the run's config.json under "preset":

    jaxshape train --preset minatar --env Breakout-MinAtar [--total-steps 2000000 ...]
    jaxshape sweep --preset minatar --env SpaceInvaders-MinAtar --grid ent_coef=0.003,0.01 ...

    from jaxshape.run import builder, job, presets
    p = presets.apply("minatar", "ppo", {"env": "Breakout-MinAtar", "total_steps": 2_000_000})
    learner, hparams = builder.build("ppo", p.config, **p.hparams)
    job.train("ppo", learner, hparams, num_seeds=4, extra_config={"preset": p.record})

`minatar` (PPO on gymnax's MinAtar Breakout, SpaceInvaders, Asterix and Freeway) is
the configuration PureJaxRL published for gymnax's MinAtar envs: 64 envs x 128 steps,
4 epochs x 8 minibatches, Adam 5e-3 annealed linearly to 0, gradients clipped to
global norm 0.5, gamma 0.99, GAE lambda 0.95, clip 0.2, entropy 0.01, value 0.5,
separate 64x64 ReLU MLPs for actor and critic on the flattened 10x10xC observation,
1e7 env steps. That network is jaxshape's `ActorCritic` (algos/networks.py) with
`hidden_sizes=(64, 64)`, `activation="relu"`, unshared, with the same orthogonal
initialisation, so no setting needs a feature jaxshape lacks. Asterix is refined to the
settings gymnax's own PPO baselines (gymnax-blines) use for it: separate 256x256 ReLU
MLPs, Adam 5e-4 constant, gamma 0.999 (at 1e7 steps PureJaxRL's settings reached an IQM
of 8.5 there, these 15.7, against the 15 gymnax's README lists;
experiments/results/minatar_presets_1e7.json). rejax publishes one
MinAtar PPO configuration, for Breakout at 1e6 steps (32 envs x 32 steps, tanh, lr
2.6e-4, gamma 0.995, rejax's element-wise gradient clipping at 1); it is not used
here: it covers one env, a tenth of the steps, and its clipping is not jaxshape's.
Seaquest-MinAtar is not covered: PureJaxRL published no settings for it, and the
gymnax 0.0.9 that rejax needs has no Seaquest to compare against.
experiments/learning_parity.py measures the preset against rejax.
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from jaxshape.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Preset:
    """Overrides for `algo`: `config` (static) and `hparams` (traced) for every env in
    `envs`, with `per_env[env] = (config, hparams)` on top of them."""

    name: str
    algo: str
    summary: str
    envs: tuple[str, ...]
    config: Mapping[str, Any]
    hparams: Mapping[str, Any]
    per_env: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any]]] = dataclasses.field(default_factory=dict)

    def overrides(self, env: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(static overrides, traced overrides) for `env` (ConfigError if not covered)."""
        if env not in self.envs:
            raise ConfigError(f"preset {self.name!r} does not cover env {env!r}: choose --env from "
                              f"{', '.join(self.envs)} (or drop --preset)")
        config, hparams = self.per_env.get(env, ({}, {}))
        return {**self.config, **config}, {**self.hparams, **hparams}


@dataclasses.dataclass(frozen=True)
class Applied:
    """Settings after a preset: `config` and `hparams` merged (explicit values kept),
    and `record`, what the preset set (saved as config.json's "preset")."""

    config: dict[str, Any]
    hparams: dict[str, Any]
    record: dict[str, Any]


_MINATAR_ENVS = ("Breakout-MinAtar", "SpaceInvaders-MinAtar", "Asterix-MinAtar", "Freeway-MinAtar")

PRESETS: dict[str, Preset] = {
    "minatar": Preset(
        name="minatar",
        algo="ppo",
        summary="PPO on MinAtar (PureJaxRL's published settings, 1e7 steps)",
        envs=_MINATAR_ENVS,
        config=MappingProxyType({
            "num_envs": 64, "num_steps": 128, "num_epochs": 4, "num_minibatches": 8,
            "hidden_sizes": (64, 64), "activation": "relu", "shared_network": False,
            "normalize_obs": False, "anneal_lr": True, "total_steps": 10_000_000,
        }),
        hparams=MappingProxyType({
            "learning_rate": 5e-3, "gamma": 0.99, "gae_lambda": 0.95, "clip_eps": 0.2,
            "ent_coef": 0.01, "vf_coef": 0.5, "max_grad_norm": 0.5,
        }),
        per_env=MappingProxyType({
            "Asterix-MinAtar": (MappingProxyType({"hidden_sizes": (256, 256), "anneal_lr": False}),
                                MappingProxyType({"learning_rate": 5e-4, "gamma": 0.999})),
        }),
    ),
}


def names() -> list[str]:
    return sorted(PRESETS)


def describe() -> str:
    """One line per preset: name, what it is for, the envs it covers."""
    return "; ".join(f"{p.name}: {p.summary}, envs {', '.join(p.envs)}" for p in PRESETS.values())


def get(name: str) -> Preset:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}: choose one of {', '.join(names())}")
    return PRESETS[name]


def apply(name: str, algo: str, config: Mapping[str, Any], hparams: Mapping[str, Any] | None = None,
          searched: Iterable[str] = ()) -> Applied:
    """Preset `name` under the explicit `config` (which must name the env) and `hparams`;
    `searched` hyperparameters (a sweep's grid and random axes) also count as explicit."""
    preset = get(name)
    if algo != preset.algo:
        raise ConfigError(f"preset {name!r} is for --algo {preset.algo}, not {algo}")
    if not config.get("env"):
        raise ConfigError(f"preset {name!r} needs an env: give --env, one of {', '.join(preset.envs)}")
    config_over, hparam_over = preset.overrides(config["env"])
    explicit_hparams = set(hparams or {}) | set(searched)
    set_config = {k: v for k, v in config_over.items() if k not in config}
    set_hparams = {k: v for k, v in hparam_over.items() if k not in explicit_hparams}
    record = {"name": name, "config": {k: list(v) if isinstance(v, tuple) else v for k, v in set_config.items()},
              "hparams": set_hparams}
    return Applied({**set_config, **config}, {**set_hparams, **(hparams or {})}, record)


__all__ = ["Applied", "PRESETS", "Preset", "apply", "describe", "get", "names"]
