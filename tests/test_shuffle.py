"""The packed-sort permutation behind PPO's per-epoch shuffle (jaxshape/shuffle.py)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxshape import shuffle


@pytest.mark.parametrize("n", [1, 2, 5, 16, 2048, 3000])
def test_is_a_permutation(n):
    orders = jax.vmap(lambda k: shuffle.permutation(k, n))(jax.random.split(jax.random.PRNGKey(0), 4))
    assert orders.dtype == jnp.int32
    for order in np.asarray(orders):
        np.testing.assert_array_equal(np.sort(order), np.arange(n))


def test_rounds_meet_jax_tie_bound():
    # n² · 2^-(32-b)r ≤ 1/n, with b index bits; the fewest such rounds
    for n in [2, 16, 2048, 65_536, 1 << 20]:
        b = int(np.ceil(np.log2(n)))
        r = shuffle.rounds(n)
        assert 3 * np.log2(n) <= (32 - b) * r
        assert r == 1 or 3 * np.log2(n) > (32 - b) * (r - 1)
    assert shuffle.rounds(2048) == 2
    assert shuffle.rounds(1 << 26) == 0  # falls back to jax.random.permutation


def test_uniform_over_all_permutations_of_four():
    draws = 24_000
    orders = np.asarray(jax.vmap(lambda k: shuffle.permutation(k, 4))(jax.random.split(jax.random.PRNGKey(1), draws)))
    index = {p: i for i, p in enumerate(itertools.permutations(range(4)))}
    counts = np.bincount([index[tuple(o)] for o in orders], minlength=24)
    chi2 = ((counts - draws / 24) ** 2 / (draws / 24)).sum()
    assert chi2 < 49.7  # 23 degrees of freedom, p = 0.001


def test_large_batch_positions_and_pair_order_are_unbiased():
    n, draws = 2048, 4000
    orders = np.asarray(jax.vmap(lambda k: shuffle.permutation(k, n))(jax.random.split(jax.random.PRNGKey(2), draws)))
    where = np.argsort(orders, axis=1)  # where each element landed
    # element 0's position is uniform on [0, n): mean (n-1)/2, sd n/√12 /√draws
    assert abs(where[:, 0].mean() - (n - 1) / 2) < 4 * n / np.sqrt(12 * draws)
    # adjacent elements keep their order half the time (a tie-bias would push this up)
    kept = (where[:, :-1] < where[:, 1:]).mean()
    assert abs(kept - 0.5) < 0.005
