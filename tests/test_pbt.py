"""Population-based training between chunks (`jaxshape sweep --pbt`): the pure
exploit/explore step, a copied member continuing from its donor's exact state in a real
sweep, one compiled step for every boundary, an exact resume, and bad input."""

import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest
from flax import struct

from jaxshape import cli
from jaxshape.algos import default_hparams
from jaxshape.pytree import stack
from jaxshape.run.logs import read_metrics
from jaxshape.sweep import pbt

TINY = ["--num-envs", "4", "--num-steps", "8", "--total-steps", str(4 * 8 * 8), "--num-epochs", "1",
        "--num-minibatches", "2", "--hidden-sizes", "8", "--chunk-updates", "2", "--no-progress",
        "--checkpoint-seconds", "0", "--keep-checkpoints", "10", "--eval-episodes", "0"]
RANGES = {"learning_rate": (1e-4, 3e-2), "reward_coefs.extrinsic": (0.5, 1.0)}
GRID = ["--grid", "learning_rate=1e-4,1e-3,1e-2,3e-2", "--grid", "reward_coefs.extrinsic=0.5,1"]


@struct.dataclass
class Members:
    params: jax.Array
    count: jax.Array
    key: jax.Array


def test_exploit_explore_copies_the_fittest_and_perturbs_the_searched_hparams():
    n = 8
    fitness = jnp.array([5.0, 1.0, 7.0, -jnp.inf, 3.0, 9.0, 2.0, 8.0])
    hparams = stack([default_hparams(learning_rate=1e-3 * (i + 1), gamma=0.9 + 0.01 * i) for i in range(n)])
    state = Members(params=jnp.arange(n * 3, dtype=jnp.float32).reshape(n, 3), count=jnp.arange(n),
                    key=jax.random.split(jax.random.PRNGKey(0), n))
    bounds = {"learning_rate": (1e-3, 6e-3)}
    config = pbt.PBTConfig(fraction=0.25, perturb=(0.8, 1.25))
    new_state, new_hp, events = pbt.exploit_explore(state, hparams, fitness, jax.random.PRNGKey(0), config, bounds)
    assert sorted(np.asarray(events["member"]).tolist()) == [1, 3]  # the two worst
    assert set(np.asarray(events["source"]).tolist()) <= {5, 7}  # drawn from the two best
    source = np.arange(n)
    source[np.asarray(events["member"])] = np.asarray(events["source"])
    np.testing.assert_array_equal(new_state.params, np.asarray(state.params)[source])
    np.testing.assert_array_equal(new_state.count, source)
    np.testing.assert_array_equal(new_state.key, state.key)  # each member keeps its own randomness
    np.testing.assert_array_equal(new_hp.gamma, np.asarray(hparams.gamma)[source])  # not searched: copied as is
    lr, donor_lr = np.asarray(new_hp.learning_rate), np.asarray(hparams.learning_rate)[source]
    for m in range(n):
        if m in (1, 3):  # perturbed by 0.8 or 1.25, clipped to the range
            assert any(np.isclose(lr[m], np.clip(donor_lr[m] * f, 1e-3, 6e-3)) for f in (0.8, 1.25))
        else:
            assert lr[m] == donor_lr[m]
    # a donor that is not fitter is not copied: all members equally unfit
    _, same_hp, events = pbt.exploit_explore(state, hparams, jnp.full(n, -jnp.inf), jax.random.PRNGKey(1),
                                             config, bounds)
    assert not np.asarray(events["copied"]).any()
    np.testing.assert_array_equal(same_hp.learning_rate, hparams.learning_rate)


@pytest.fixture(scope="module")
def pbt_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("pbt") / "sweep"
    assert cli.main(["sweep", *TINY, *GRID, "--pbt", "--out", str(out)]) == 0
    return out


def test_a_member_that_copies_another_continues_from_its_exact_state(pbt_sweep):
    """Every event: in the checkpoint written at that update (after the step), the member's
    whole training state is its donor's (its RNG key aside); its searched hparams are
    the donor's times 0.8 or 1.25, the rest the donor's exactly."""
    events = [json.loads(line) for line in (pbt_sweep / "pbt_events.jsonl").read_text().splitlines()]
    assert events and {e["update"] for e in events} <= {2, 4, 6}  # never after the last chunk
    run = pbt_sweep / "batch-000"
    manager = ocp.CheckpointManager(run / "checkpoints")
    checked = 0
    for update in sorted({e["update"] for e in events}):
        stored = manager.restore(update)  # the raw leaves: {path: array}
        for e in (e for e in events if e["update"] == update):
            m, d = e["member"], e["from"]
            assert e["from_fitness"] > (e["fitness"] if e["fitness"] is not None else -np.inf)
            for name, value in stored.items():
                if name.startswith("state.") and name != "state.key":
                    np.testing.assert_array_equal(value[m], value[d], err_msg=name)
            for name, before in e["donor"].items():
                low, high = RANGES[name]
                assert any(e["after"][name] == pytest.approx(np.clip(before * f, low, high), rel=1e-5)
                           for f in (0.8, 1.25)), (name, before, e["after"][name])
            np.testing.assert_array_equal(stored["hparams.gamma"][m], stored["hparams.gamma"][d])
            checked += 1
    manager.close()
    assert checked == len(events)
    best = json.loads((pbt_sweep / "best.json").read_text())["pbt_best_member"]
    summary = json.loads((run / "summary.json").read_text())
    assert best["final_return"] == max(v for v in summary["final_return_per_seed"] if v is not None)
    assert best["final_hparams"]["learning_rate"] == pytest.approx(
        summary["final_hparams"]["learning_rate"][best["member"]])


def test_a_resumed_pbt_sweep_replays_the_same_events(pbt_sweep, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(pbt_sweep, copy)
    run = copy / "batch-000"
    (run / "summary.json").unlink()
    for update in (6, 8):  # killed after the checkpoint of update 4
        shutil.rmtree(run / "checkpoints" / str(update))
    assert cli.main(["sweep", "--resume", str(copy), "--no-progress"]) == 0
    assert json.loads((run / "summary.json").read_text())["resumed_from_update"] == 4
    assert (copy / "pbt_events.jsonl").read_text() == (pbt_sweep / "pbt_events.jsonl").read_text()
    assert read_metrics(run) == read_metrics(pbt_sweep / "batch-000")


def test_the_boundary_step_compiles_once(tmp_path):
    from jaxshape.algos import PPOConfig, make_ppo
    from jaxshape.run import job

    learner = make_ppo(PPOConfig(num_envs=4, num_steps=8, total_steps=4 * 8 * 8, num_epochs=1, num_minibatches=2,
                                 hidden_sizes=(8,)))
    hparams = stack([default_hparams(learning_rate=lr) for lr in (1e-4, 1e-3, 1e-2, 3e-2)])
    boundary = pbt.boundary(pbt.PBTConfig(fraction=0.5), {"learning_rate": (1e-4, 3e-2)}, tmp_path / "events.jsonl")
    options = job.JobOptions(chunk_updates=1, eval_episodes=0, progress=False, plot=False)
    job.train("ppo", learner, None, seeds=[0, 1, 2, 3], member_hparams=hparams, out_dir=tmp_path / "run",
              options=options, boundary=boundary)
    assert boundary.step._cache_size() == 1  # seven boundaries, one program
    assert {json.loads(line)["update"] for line in (tmp_path / "events.jsonl").read_text().splitlines()} <= set(
        range(1, 8))


def test_bad_pbt_input_is_one_line_and_exit_2(capsys, tmp_path):
    for argv, match in ([["--pbt", "--max-batch", "4"], "needs every member in one batch"],
                        [["--pbt-fraction", "0.9"], "--pbt-fraction must be in (0, 0.5]"],
                        [["--pbt-every", "0"], "--pbt-every must be a positive"]):
        assert cli.main(["sweep", *TINY, *GRID, "--out", str(tmp_path / "bad"), *argv]) == 2
        err = capsys.readouterr().err
        assert match in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "bad").exists()
