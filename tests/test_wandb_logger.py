"""`--logger wandb`: one W&B run per member, in one group, with its own hyperparameters and
its own values (not the members' mean), resumable without logging an update twice. Real
wandb in offline mode (no network): the runs' `.wandb` files are read back."""

import json
import shutil
import struct

import pytest

from jaxshape import cli, pytree
from jaxshape.algos import PPOConfig, default_hparams, make_ppo
from jaxshape.errors import ConfigError
from jaxshape.run import job
from jaxshape.run.logs import read_config, read_metrics
from jaxshape.run.wandb_logger import STATE_FILE, _layout

wandb = pytest.importorskip("wandb")

CONFIG = PPOConfig(num_envs=4, num_steps=8, total_steps=4 * 8 * 6, num_epochs=1, num_minibatches=2,
                   hidden_sizes=(8,))
OPTIONS = job.JobOptions(chunk_updates=2, eval_every=1, eval_episodes=2, progress=False, checkpoint_seconds=0,
                         plot=False, logger="wandb")
RATES = (1e-3, 3e-4)
TINY = ["--num-envs", "4", "--num-steps", "8", "--total-steps", str(4 * 8 * 4), "--num-epochs", "1",
        "--num-minibatches", "2", "--hidden-sizes", "8", "--chunk-updates", "2", "--no-progress",
        "--checkpoint-seconds", "0", "--eval-episodes", "0"]


@pytest.fixture(scope="module", autouse=True)
def offline(tmp_path_factory):
    """W&B offline, quiet, and with its own folders in a temporary one (no network, nothing in ~)."""
    home = tmp_path_factory.mktemp("wandb-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WANDB_MODE", "offline")
        mp.setenv("WANDB_SILENT", "true")
        for name in ("CONFIG", "CACHE", "DATA", "ARTIFACT"):
            mp.setenv(f"WANDB_{name}_DIR", str(home / name.lower()))
        yield


def _records(path):
    """The protobuf records of an offline run's `.wandb` file (a LevelDB-style log:
    a 7-byte file header, then 32 KiB blocks of [crc u32, length u16, type u8] chunks)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, parts = 7, []
    while pos + 7 <= len(data):
        left = 32768 - pos % 32768
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if left < 7 or (kind == 0 and length == 0):
            pos += left  # block padding
            continue
        parts.append(data[pos + 7:pos + 7 + length])
        pos += 7 + length
        if kind in (1, 4):  # full, or last part
            yield wandb_internal_pb2.Record.FromString(b"".join(parts))
            parts = []


def offline_runs(run_dir):
    """[{id, group, name, job_type, config, history: {step: {key: value}}, exit_code}], one per
    offline run folder."""
    runs = []
    for folder in sorted((run_dir / "wandb").glob("offline-run-*")):
        (path,) = folder.glob("*.wandb")
        run = {"history": {}, "config": {}}
        for record in _records(path):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                r = record.run
                run.update(id=r.run_id, group=r.run_group, name=r.display_name, job_type=r.job_type)
                run["config"].update({i.key: json.loads(i.value_json) for i in r.config.update})
            elif kind == "exit":
                run["exit_code"] = record.exit.exit_code
            elif kind == "history":
                row = {".".join(i.nested_key) or i.key: json.loads(i.value_json) for i in record.history.item}
                run["history"][row["_step"]] = {k: v for k, v in row.items() if not k.startswith("_")}
        runs.append(run)
    return sorted(runs, key=lambda r: (r["name"], sorted(r["history"])))  # folders sort by start second, then id


def _train(out):
    hparams = pytree.stack([default_hparams(learning_rate=lr) for lr in RATES])
    return job.train("ppo", make_ppo(CONFIG), default_hparams(), seeds=[7, 8], member_hparams=hparams, out_dir=out,
                     options=OPTIONS)


@pytest.fixture(scope="module")
def tracked(offline, tmp_path_factory):
    out = tmp_path_factory.mktemp("wandb") / "lr_pair"
    _train(out)
    return out


def test_each_member_is_its_own_run_with_its_hparams_and_values(tracked):
    runs = offline_runs(tracked)
    records, config = read_metrics(tracked), read_config(tracked)
    assert [r["name"] for r in runs] == ["lr_pair/member-0", "lr_pair/member-1"]
    assert {r["group"] for r in runs} == {"lr_pair"}
    assert [r["id"] for r in runs] == json.loads((tracked / STATE_FILE).read_text())["ids"]
    for i, run in enumerate(runs):
        assert run["config"]["learning_rate"] == config["hparams"]["learning_rate"][i] == pytest.approx(RATES[i])
        assert run["config"]["seed"] == [7, 8][i] and run["config"]["config"]["num_envs"] == 4
        assert sorted(run["history"]) == [r["step"] for r in records]  # every update, step = env steps
        for record in records:  # this member's value, not the mean over members
            logged = run["history"][record["step"]]
            for name in ("episode_return", "eval_return"):
                if (value := record.get(f"{name}_per_seed", [None, None])[i]) is not None:
                    assert logged[name] == value
            assert "loss/total" in logged or any(k.startswith("loss") for k in logged)
        assert run["exit_code"] == 0
        final = records[-1]["episode_return_per_seed"][i]
        assert final is not None and run["history"][records[-1]["step"]]["episode_return"] == final
    assert runs[0]["history"] != runs[1]["history"]


def test_resume_continues_the_same_runs_without_logging_an_update_twice(tracked, tmp_path):
    stopped = tmp_path / "lr_pair"
    shutil.copytree(tracked, stopped)
    for checkpoint in (stopped / "checkpoints").iterdir():
        if checkpoint.name.isdigit() and int(checkpoint.name) > 2:
            shutil.rmtree(checkpoint)  # stopped after update 4 was logged, with update 2's checkpoint only
    state = json.loads((stopped / STATE_FILE).read_text())
    (stopped / STATE_FILE).write_text(json.dumps({**state, "logged_through_step": 4 * 32}))
    before = {p.name for p in (stopped / "wandb").glob("offline-run-*")}
    assert job.resume(stopped, progress=False)["resumed_from_update"] == 2
    resumed = [r for r in offline_runs(stopped) if r["id"] in state["ids"]]
    new = [r for r in resumed if r not in offline_runs(tracked)]
    assert len(resumed) == 4 and len({p.name for p in (stopped / "wandb").glob("offline-run-*")} - before) == 2
    assert sorted(r["id"] for r in new) == sorted(state["ids"])
    records = read_metrics(stopped)
    assert records == read_metrics(tracked)
    for run in new:
        i = state["ids"].index(run["id"])
        assert sorted(run["history"]) == [5 * 32, 6 * 32]  # updates 3 and 4 were redone but not logged again
        assert run["history"][6 * 32]["episode_return"] == records[-1]["episode_return_per_seed"][i]


def test_a_pbt_sweep_is_one_group_with_the_hparams_each_member_has_now(tmp_path):
    out = tmp_path / "pbt_lr"
    assert cli.main(["sweep", *TINY, "--grid", "learning_rate=3e-2,1e-4", "--pbt", "--logger", "wandb",
                     "--out", str(out)]) == 0
    runs = offline_runs(out / "batch-000")
    summary = json.loads((out / "batch-000" / "summary.json").read_text())
    assert [(r["group"], r["job_type"], r["name"]) for r in runs] == [
        ("pbt_lr", "batch-000", "pbt_lr/member-0"), ("pbt_lr", "batch-000", "pbt_lr/member-1")]
    for i, (run, lr) in enumerate(zip(runs, (3e-2, 1e-4))):
        assert run["config"]["learning_rate"] == pytest.approx(lr)
        last = run["history"][max(run["history"])]
        assert last["hparams/learning_rate"] == pytest.approx(summary["final_hparams"]["learning_rate"][i])
        assert last["episode_return"] == summary["final_return_per_seed"][i]


def test_a_diverged_run_marks_its_member_runs_failed(tmp_path):
    poisoned = default_hparams(learning_rate=1e30, max_grad_norm=1e30)  # parameters overflow at once
    with pytest.raises(job.TrainingDiverged):
        job.train("ppo", make_ppo(CONFIG), poisoned, num_seeds=2, out_dir=tmp_path / "nan",
                  options=job.JobOptions(chunk_updates=3, progress=False, plot=False, eval_episodes=0,
                                         logger="wandb"))
    assert [r["exit_code"] for r in offline_runs(tmp_path / "nan")] == [1, 1]


def test_search_layout_names_generations():
    config = {"seeds": [0, 0, 0], "search": {"dir": "/x/es", "generation": 3}}
    assert _layout(None, config) == ("es", "gen-0003", [(i, f"es/gen-0003/member-{i}") for i in range(3)])
    padded = {"seeds": [0, 1, 2], "sweep": {"dir": "s", "batch": "batch-001", "members": [3, 4, 0], "real": 2}}
    assert _layout(None, padded) == ("s", "batch-001", [(0, "s/member-3"), (1, "s/member-4")])  # padding not logged


def test_bad_logger_or_missing_wandb_is_one_line_exit_2(capsys, tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="--logger must be one of tensorboard, wandb"):
        job.JobOptions(logger="comet")
    assert cli.main(["train", *TINY, "--logger", "comet", "--out", str(tmp_path / "bad")]) == 2
    real = job.importlib.util.find_spec
    monkeypatch.setattr(job.importlib.util, "find_spec", lambda name: None if name == "wandb" else real(name))
    assert cli.main(["train", *TINY, "--logger", "wandb", "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert "pip install -e '.[wandb]'" in err and "Traceback" not in err
    assert not (tmp_path / "bad").exists()
