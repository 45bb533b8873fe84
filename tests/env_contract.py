"""The identity `envs.step_batch(..., auto_reset=False)` keeps, for any env.

With the same keys, states and actions, the step without reset returns `step`'s reward,
flags and final observation; where no episode ended, `step`'s observation and state
(up to float rounding: gymnax jits its `step` on its own); where one ended, the state it
ended in, its observation being the final one, where `step` has moved on to a reset."""

import jax
import numpy as np


def assert_step_without_reset_keeps_the_end(step, kept):
    """`step`, `kept`: the outputs of `step_batch` with and without auto-reset. Returns the
    [N] mask of envs whose episode ended on this step."""
    obs, states, reward, terminated, truncated, info = step
    kept_obs, kept_states, kept_reward, kept_terminated, kept_truncated, kept_info = kept
    def close(a, b):
        np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=1e-5, atol=1e-6)

    np.testing.assert_array_equal(terminated, kept_terminated)
    np.testing.assert_array_equal(truncated, kept_truncated)
    close(reward, kept_reward)
    close(info["final_observation"], kept_info["final_observation"])
    np.testing.assert_array_equal(kept_obs, kept_info["final_observation"])
    done = np.asarray(terminated | truncated)
    close(np.asarray(obs)[~done], np.asarray(kept_obs)[~done])
    for a, b in zip(jax.tree.leaves(states), jax.tree.leaves(kept_states)):
        close(np.asarray(a)[~done], np.asarray(b)[~done])
    if done.any():  # the ended envs keep their last observation, not a reset one
        assert np.abs(np.asarray(obs, np.float32)[done] - np.asarray(kept_obs, np.float32)[done]).max() > 1e-3
    return done
