"""Every reward name `--reward` accepts trains through `jaxshape train` at a tiny size,
writes checkpoints, evaluates, and resumes from an earlier checkpoint to the same end.
The cases come from the registry itself, so a name added later is covered (and a name
without an example in `EXAMPLES` fails here)."""

import json
import shutil

import jax
import numpy as np
import pytest

from jaxshape import cli
from jaxshape.rewards.spec import BUILDERS, EXAMPLES
from jaxshape.run.logs import read_metrics
from jaxshape.run.policy import restore_run

TINY = ["--num-envs", "4", "--num-steps", "8", "--total-steps", str(4 * 8 * 4), "--num-epochs", "1",
        "--num-minibatches", "2", "--hidden-sizes", "8", "--chunk-updates", "2", "--eval-every", "1",
        "--eval-episodes", "2", "--no-progress", "--no-plot", "--checkpoint-seconds", "0"]


def write_demos(path, env_name, count=64):
    """Shape-valid expert transitions for `env_name` (random, 4 episodes) in the demos format."""
    from jaxshape.demos import save_demos
    from jaxshape.envs import make

    env, params = make(env_name)
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(count,) + tuple(env.observation_space(params).shape)).astype(np.float32)
    space = env.action_space(params)
    action = (rng.integers(0, int(space.n), count).astype(np.int32) if hasattr(space, "n")
              else rng.uniform(-1, 1, (count,) + tuple(space.shape)).astype(np.float32))
    episode = np.arange(count, dtype=np.int32) // (count // 4)
    save_demos(path, {"obs": obs, "action": action, "next_obs": obs, "terminated": np.diff(episode, append=4) > 0,
                      "truncated": np.zeros(count, bool), "reward": np.ones(count, np.float32), "episode": episode})
    return path


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_every_registered_reward_trains_checkpoints_evaluates_and_resumes(name, tmp_path, capsys):
    assert name in EXAMPLES, f"add an example spec and env for {name!r} to jaxshape.rewards.spec.EXAMPLES"
    spec, env = EXAMPLES[name]
    if "{demos}" in spec:  # gail/airl read expert transitions from a file: a small one of the env's shapes
        spec = spec.format(demos=write_demos(tmp_path / "demos.npz", env))
    run = tmp_path / "run"
    assert cli.main(["train", *TINY, "--env", env, "--reward", spec, "--out", str(run)]) == 0, capsys.readouterr().err
    assert sorted(int(p.name) for p in (run / "checkpoints").iterdir() if p.name.isdigit()) == [2, 4]
    records = read_metrics(run)
    assert [r["step"] for r in records] == [32, 64, 96, 128]
    assert sum("eval_return" in r for r in records) == 2

    stopped = tmp_path / "stopped"
    shutil.copytree(run, stopped)
    shutil.rmtree(stopped / "checkpoints" / "4")  # as if the run stopped after update 2
    (stopped / "summary.json").unlink()
    assert cli.main(["train", "--resume", str(stopped), "--no-progress"]) == 0, capsys.readouterr().err
    assert json.loads((stopped / "summary.json").read_text())["resumed_from_update"] == 2
    assert read_metrics(stopped) == records
    jax.tree.map(np.testing.assert_array_equal, restore_run(stopped)[2], restore_run(run)[2])
