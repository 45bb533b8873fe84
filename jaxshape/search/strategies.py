"""Evolution strategies from evosax, behind one small interface.

evosax (Lange 2022) implements the strategies; jaxshape only picks one by name, sets its
step sizes in the unit box of `jaxshape.search.space`, and turns our fitness (higher is
better) into evosax's (lower is better):

    openes  OpenAI-ES (Salimans et al. 2017): antithetic Gaussian samples around a mean,
            centred-rank fitness, the mean moved by Adam along the estimated gradient
            g = Σ_i f_i·ε_i / (N·σ); σ fixed.
    snes    Separable natural ES (Wierstra et al. 2014, Schaul et al. 2011): a diagonal
            Gaussian whose mean and per-coordinate σ follow natural gradients.
    cma_es  CMA-ES (Hansen & Ostermeier 2001): a full covariance adapted from the best
            samples of each generation.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxshape.errors import ConfigError

STRATEGIES = ("openes", "snes", "cma_es")


@dataclasses.dataclass(frozen=True)
class Strategy:
    """An evosax strategy over `num_dims` unit coordinates: `init`, `ask`, `tell` (fitness
    to maximise). Its state is a pytree (checkpointed by the search)."""

    algorithm: Any
    params: Any
    start: np.ndarray

    def init(self, key: jax.Array) -> Any:
        return self.algorithm.init(key, jnp.asarray(self.start), self.params)

    def ask(self, key: jax.Array, state: Any) -> tuple[np.ndarray, Any]:
        population, state = self.algorithm.ask(key, state, self.params)
        return np.asarray(population), state

    def tell(self, key: jax.Array, population: np.ndarray, fitness: np.ndarray, state: Any) -> Any:
        """`fitness` is maximised; NaN (a member without a finished episode) counts as the
        worst fitness of the generation."""
        fitness = np.asarray(fitness, np.float64)
        finite = fitness[np.isfinite(fitness)]
        fitness = np.where(np.isfinite(fitness), fitness, finite.min() if finite.size else 0.0)
        state, _ = self.algorithm.tell(key, jnp.asarray(population), jnp.asarray(-fitness, jnp.float32), state,
                                       self.params)
        return state

    def mean(self, state: Any) -> np.ndarray:
        return np.asarray(state.mean)


def make_strategy(name: str, population: int, start: np.ndarray, sigma: float = 0.2,
                  learning_rate: float = 0.1) -> Strategy:
    """The strategy `name` with `population` members, starting at the unit coordinates
    `start` with step size `sigma` (a fraction of each range); `learning_rate` is
    OpenAI-ES's Adam step (the others adapt their own)."""
    from evosax.algorithms import CMA_ES, SNES, Open_ES

    if name not in STRATEGIES:
        raise ConfigError(f"unknown strategy {name!r}: choose one of {', '.join(STRATEGIES)}")
    if population < 2:
        raise ConfigError(f"--population must be at least 2, got {population}")
    if not (sigma > 0 and learning_rate > 0):
        raise ConfigError(f"--sigma and --es-learning-rate must be positive, got {sigma} and {learning_rate}")
    solution = jnp.zeros(len(start), jnp.float32)
    if name == "openes":
        if population % 2:
            raise ConfigError(f"openes samples antithetic pairs: give an even --population, got {population}")
        algorithm = Open_ES(population, solution, optimizer=optax.adam(learning_rate),
                            std_schedule=optax.constant_schedule(sigma))
        params = algorithm.default_params
    else:
        algorithm = (SNES if name == "snes" else CMA_ES)(population, solution)
        params = algorithm.default_params.replace(std_init=jnp.asarray(sigma, jnp.float32))
    return Strategy(algorithm, params, np.asarray(start, np.float32))
