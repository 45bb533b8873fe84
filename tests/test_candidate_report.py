"""candidates.json from synthetic per-member curves (no training): on a survival task a
term's per-episode sum follows the episode length, so the report's length-aware
association (the per-step rate's correlation with fitness) must tell a helpful per-step
penalty from a gamed per-step bonus; the `extrinsic` row is the stream the candidate
trains on, not the env return."""

import json

import numpy as np
import pytest

from jaxshape.sweep.report import batch_curves, write_candidate_report

UPDATES, SEEDS = 30, 3


def write_sweep(folder, per_member):
    """A one-batch sweep folder whose metrics.jsonl holds `per_member` (name -> [members,
    updates]) as `<name>_per_seed`; member m runs candidate m // SEEDS."""
    members = next(iter(per_member.values())).shape[0]
    configs = [{"reward.index": float(c)} for c in range(members // SEEDS)]
    record = {"configurations": configs, "members": [{"config": m // SEEDS, "seed": m % SEEDS} for m in range(members)],
              "batches": [{"name": "batch-000", "members": list(range(members)), "real": members}]}
    (folder / "batch-000").mkdir(parents=True)
    with (folder / "batch-000" / "metrics.jsonl").open("w") as f:
        for u in range(UPDATES):
            line = {"step": 1000 * (u + 1), **{f"{k}_per_seed": v[:, u].tolist() for k, v in per_member.items()}}
            f.write(json.dumps(line) + "\n")
    return record, {"batch-000": batch_curves(folder / "batch-000")}


def test_survival_task_helpful_penalty_is_positive_and_gamed_bonus_is_not(tmp_path):
    """CartPole-like: return = episode length, rising with skill. Candidate 0 adds a
    per-step tilt penalty that shrinks as the pole is kept upright (helpful); candidate 1
    a per-step bonus for cart speed, paid less as the agent learns to balance (gamed: the
    agent could farm it without balancing). Both sums scale with length."""
    rng = np.random.default_rng(0)
    skill = np.linspace(0, 1, UPDATES)[None] + 0.05 * rng.standard_normal((2 * SEEDS, UPDATES))
    length = 20 + 180 * np.clip(skill, 0, 1) + rng.uniform(0, 5, (2 * SEEDS, UPDATES))
    tilt_rate = -(0.5 - 0.2 * skill)                        # shrinks as the pole stays upright
    speed_rate = 0.5 - 0.1 * skill + 0.02 * rng.standard_normal(skill.shape)
    first, second = slice(0, SEEDS), slice(SEEDS, 2 * SEEDS)
    tilt, speed = np.zeros_like(length), np.zeros_like(length)
    tilt[first], speed[second] = tilt_rate[first] * length[first], speed_rate[second] * length[second]
    record, curves = write_sweep(tmp_path, {"episode_return": length, "episode_length": length,
                                            "episode_reward/extrinsic": length, "episode_reward/tilt": tilt,
                                            "episode_reward/speed": speed})
    rows = write_candidate_report(tmp_path, record, curves, {"extrinsic": 1.0, "tilt": 1.0, "speed": 1.0},
                                  ["upright", "speed"])
    terms = {r["name"]: r["terms"] for r in rows}
    helpful, gamed = terms["upright"]["tilt"], terms["speed"]["speed"]
    assert helpful["corr_with_fitness"] < 0 < gamed["corr_with_fitness"]  # the per-episode sums mislead
    assert helpful["rate_corr_with_fitness"] > 0.5 and gamed["rate_corr_with_fitness"] <= 0
    assert helpful["rate"] == pytest.approx(np.mean(tilt_rate[first, -1]), rel=0.05)
    assert helpful["mean"] == pytest.approx(np.mean(tilt[first, -1]))
    assert set(terms["upright"]) == {"extrinsic", "tilt"}
    written = {r["name"]: r for r in json.loads((tmp_path / "candidates.json").read_text())["candidates"]}
    assert written["upright"]["terms"]["tilt"] == helpful


def test_extrinsic_row_is_the_stream_the_candidate_trains_on(tmp_path):
    """Candidate 0 trains on the env reward, 1 on 10x it, 2 on env_terms' residual (0)."""
    ret = np.tile(np.linspace(-50, -10, UPDATES), (3 * SEEDS, 1))
    extrinsic, split = ret.copy(), np.zeros_like(ret)
    extrinsic[SEEDS:2 * SEEDS] *= 10
    extrinsic[2 * SEEDS:], split[2 * SEEDS:] = 0.0, ret[2 * SEEDS:]
    record, curves = write_sweep(tmp_path, {"episode_return": ret, "episode_length": np.full_like(ret, 100.0),
                                            "episode_reward/extrinsic": extrinsic, "episode_reward/dist": split})
    rows = write_candidate_report(tmp_path, record, curves, {"extrinsic": 1.0, "dist": 1.0}, ["env", "x10", "split"])
    terms = {r["name"]: r["terms"] for r in rows}
    assert terms["env"]["extrinsic"]["mean"] == pytest.approx(-10)
    assert terms["x10"]["extrinsic"]["mean"] == pytest.approx(-100)
    assert terms["x10"]["extrinsic"]["rate"] == pytest.approx(-1)
    assert terms["split"]["extrinsic"]["mean"] == 0 and terms["split"]["extrinsic"]["share"] == 0
    assert terms["split"]["dist"]["share"] == 1
    assert all(r["return_iqm"] == pytest.approx(-10) for r in rows)  # fitness stays the env return


def test_logs_average_a_candidates_metrics_over_the_members_that_selected_it():
    """Members 0 and 2 run candidate `a` (its metrics padded with 0 and INT_MIN elsewhere);
    a NaN from a member that did select it still shows (null)."""
    from jaxshape.run.logs import update_records

    pad = np.iinfo(np.int32).min
    metrics = {"step": np.array([[10, 20]] * 3), "episode_valid": np.ones((3, 2), bool),
               "transform/a/selected": np.array([[1.0, 1.0], [0.0, 0.0], [1.0, 1.0]]),
               "transform/a/loss": np.array([[1.0, np.nan], [0.0, 0.0], [3.0, 3.0]]),
               "transform/a/visits": np.array([[4, 4], [pad, pad], [6, 6]], np.int32),
               "transform/b/loss": np.array([[np.nan] * 2, [5.0] * 2, [np.nan] * 2])}  # no selector: plain mean
    first, second = update_records(metrics)
    assert first["transform/a/loss"] == 2.0 and first["transform/a/visits"] == 5.0
    assert second["transform/a/loss"] is None and second["transform/a/visits"] == 5.0
    assert first["transform/a/selected"] == pytest.approx(2 / 3) and first["transform/b/loss"] is None
