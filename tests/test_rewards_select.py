"""`rewards.select`: candidate reward functions chosen by a traced index, so a sweep over
candidates x seeds compiles once."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxshape import rewards
from jaxshape.types import Transition


def transition(done=False):
    n = 3
    return Transition(obs=jnp.zeros((n, 2)), action=jnp.zeros((n,), jnp.int32), reward=jnp.ones(n),
                      terminated=jnp.full(n, done), truncated=jnp.zeros(n, bool),
                      next_obs=jnp.arange(2 * n, dtype=jnp.float32).reshape(n, 2))


CANDIDATES = [
    rewards.term("near", lambda t, hp: -t.next_obs[:, 0], coef=0.5),
    rewards.count_bonus(beta=0.1),
    rewards.clip(stream="extrinsic", low=-0.5, high=0.5),
]


def test_the_selected_candidate_alone_decides_the_streams_and_advances_its_state():
    chosen = rewards.select(CANDIDATES, names=["near", "count", "clipped"])
    assert [s.name for s in chosen.streams] == ["near", "count"]
    assert chosen.streams[0].coef == 0.5
    state = chosen.init(jax.random.PRNGKey(0), transition())
    for index, candidate in enumerate(CANDIDATES):
        hp = {**chosen.default_hparams, "index": jnp.float32(index)}
        streams, new_state = chosen.apply(state, transition(), hp)
        alone, alone_state = candidate.apply(candidate.init(jax.random.PRNGKey(index), transition()), transition())
        for name in ("extrinsic", "near", "count"):
            np.testing.assert_allclose(streams[name], alone.get(name, jnp.zeros(3)), err_msg=f"{index} {name}")
        for other in range(len(CANDIDATES)):  # only the selected candidate's state moved
            moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), new_state[other], state[other])
            assert (other == index) or not any(jax.tree.leaves(moved))


def test_candidates_vmap_over_the_index():
    chosen = rewards.select(CANDIDATES)
    state = chosen.init(jax.random.PRNGKey(0), transition())
    hps = jax.tree.map(lambda x: jnp.stack([jnp.asarray(x, jnp.float32)] * 3), chosen.default_hparams)
    hps["index"] = jnp.array([0.0, 1.0, 2.0])
    streams, _ = jax.vmap(lambda hp: chosen.apply(state, transition(), hp))(hps)
    np.testing.assert_allclose(streams["near"][0], [-0.0, -2.0, -4.0])
    np.testing.assert_allclose(streams["near"][1:], 0.0)
    np.testing.assert_allclose(streams["extrinsic"][2], [0.5, 0.5, 0.5])  # clipped
    assert (streams["count"][1] > 0).all() and (streams["count"][jnp.array([0, 2])] == 0).all()
    _, metrics = jax.vmap(lambda hp: chosen.update(state, transition(), jax.random.PRNGKey(0), hp))(hps)
    assert all(k.startswith(("c0/", "c1/", "c2/")) for k in metrics)
