"""Presets (jaxshape/run/presets.py): what they set, what overrides them, what the run
folder records, and the one-line errors (exit 2) of `jaxshape train` and `jaxshape sweep`."""

import json

import pytest

from jaxshape.cli import main
from jaxshape.errors import ConfigError
from jaxshape.run import presets

TINY = ["--num-envs", "4", "--num-steps", "8", "--total-steps", "64", "--num-epochs", "1", "--num-minibatches", "2",
        "--hidden-sizes", "8,8", "--no-progress", "--no-plot", "--no-compile-cache"]
MINATAR = presets.get("minatar")


def test_apply_sets_what_is_not_given_and_records_it():
    applied = presets.apply("minatar", "ppo", {"env": "Breakout-MinAtar", "num_envs": 8}, {"ent_coef": 0.02})
    assert applied.config["num_envs"] == 8 and applied.hparams["ent_coef"] == 0.02  # explicit values win
    assert applied.config["activation"] == "relu" and applied.config["total_steps"] == 10_000_000
    assert applied.hparams["learning_rate"] == 5e-3
    assert applied.record["name"] == "minatar"
    assert "num_envs" not in applied.record["config"] and "ent_coef" not in applied.record["hparams"]
    assert applied.record["config"]["hidden_sizes"] == [64, 64]  # JSON-ready
    searched = presets.apply("minatar", "ppo", {"env": "Freeway-MinAtar"}, searched=["learning_rate"])
    assert "learning_rate" not in searched.hparams and "learning_rate" not in searched.record["hparams"]


def test_asterix_refines_the_shared_settings_and_flags_still_win():
    asterix = presets.apply("minatar", "ppo", {"env": "Asterix-MinAtar"})
    assert asterix.config["hidden_sizes"] == (256, 256) and asterix.config["anneal_lr"] is False
    assert asterix.hparams["learning_rate"] == 5e-4 and asterix.hparams["gamma"] == 0.999
    assert asterix.config["num_envs"] == 64 and asterix.hparams["ent_coef"] == 0.01  # the shared part
    assert asterix.record["config"]["hidden_sizes"] == [256, 256]  # recorded as config.json stores it
    explicit = presets.apply("minatar", "ppo", {"env": "Asterix-MinAtar", "hidden_sizes": (64,)}, {"gamma": 0.99})
    assert explicit.config["hidden_sizes"] == (64,) and explicit.hparams["gamma"] == 0.99
    breakout = presets.apply("minatar", "ppo", {"env": "Breakout-MinAtar"})
    assert breakout.config["hidden_sizes"] == (64, 64) and breakout.hparams["learning_rate"] == 5e-3


@pytest.mark.parametrize("args, fix", [
    (("nope", "ppo", {"env": "Breakout-MinAtar"}), "unknown preset 'nope': choose one of minatar"),
    (("minatar", "ppo", {"env": "CartPole-v1"}), "choose --env from Breakout-MinAtar, SpaceInvaders-MinAtar"),
    (("minatar", "ppo", {}), "needs an env: give --env, one of Breakout-MinAtar"),
    (("minatar", "sac", {"env": "Breakout-MinAtar"}), "is for --algo ppo, not sac"),
])
def test_apply_errors_name_the_choices(args, fix):
    with pytest.raises(ConfigError, match=fix):
        presets.apply(*args)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("preset") / "run"
    assert main(["train", "--preset", "minatar", "--env", "Breakout-MinAtar", *TINY, "--learning-rate", "1e-3",
                 "--out", str(out)]) == 0
    return out


def test_train_applies_the_preset_under_the_flags_and_records_it(run_dir):
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["config"]["activation"] == "relu" and saved["config"]["anneal_lr"] is True  # from the preset
    assert saved["config"]["num_envs"] == 4 and saved["config"]["hidden_sizes"] == [8, 8]  # flags win
    assert saved["hparams"]["learning_rate"] == pytest.approx([1e-3])
    assert saved["hparams"]["max_grad_norm"] == pytest.approx([0.5])
    assert saved["hparams"]["ent_coef"] == pytest.approx([0.01])
    assert saved["preset"]["name"] == "minatar"
    assert saved["preset"]["config"]["activation"] == "relu" and "num_envs" not in saved["preset"]["config"]
    assert saved["preset"]["hparams"]["gae_lambda"] == 0.95 and "learning_rate" not in saved["preset"]["hparams"]


def test_resume_accepts_the_same_preset_and_refuses_another(run_dir, monkeypatch, capsys):
    assert main(["train", "--resume", str(run_dir), "--preset", "minatar", "--no-compile-cache"]) == 0
    other = presets.Preset("other", "ppo", "a test preset", MINATAR.envs, {}, {})
    monkeypatch.setitem(presets.PRESETS, "other", other)
    capsys.readouterr()
    assert main(["train", "--resume", str(run_dir), "--preset", "other"]) == 2
    assert "preset ('minatar' -> 'other')" in capsys.readouterr().err


@pytest.mark.parametrize("argv, fix", [
    (["train", "--preset", "nope", "--env", "Breakout-MinAtar"], "unknown preset 'nope': choose one of minatar"),
    (["train", "--preset", "minatar", "--env", "MinAtar-Breakout"], "choose --env from Breakout-MinAtar"),
    (["train", "--preset", "minatar"], "needs an env"),
    (["sweep", "--preset", "nope", "--env", "Breakout-MinAtar", "--grid", "ent_coef=0.01", "--out", "x"],
     "unknown preset 'nope'"),
])
def test_bad_preset_is_one_line_and_exit_2(argv, fix, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path / "out")] if argv[0] == "train" else argv) == 2
    err = capsys.readouterr().err
    assert fix in err and len(err.strip().splitlines()) == 1


def test_sweep_spec_takes_the_preset_under_flags_and_grid():
    from jaxshape.cli.sweep import _parser, build_spec
    from jaxshape.sweep.execute import _build

    args = _parser("ppo").parse_args(["--preset", "minatar", "--env", "SpaceInvaders-MinAtar", "--num-envs", "4",
                                      "--grid", "learning_rate=1e-3,2e-3", "--out", "unused"])
    spec = build_spec(args)
    assert spec.config["num_envs"] == 4 and spec.config["num_minibatches"] == 8
    assert "learning_rate" not in spec.hparams and spec.hparams["max_grad_norm"] == 0.5
    assert spec.preset["name"] == "minatar" and "learning_rate" not in spec.preset["hparams"]
    _, base = _build(spec)  # the learner is built (and validated) from the preset's settings
    assert float(base.gae_lambda) == pytest.approx(0.95) and float(base.max_grad_norm) == pytest.approx(0.5)

    from jaxshape.sweep import spec_from_dict  # a sweep.json's record is kept as applied
    again = spec_from_dict({**{k: v for k, v in spec.__dict__.items() if k != "seeds"}, "seeds": list(spec.seeds)})
    assert again.config == spec.config and again.hparams == spec.hparams and again.preset == spec.preset
