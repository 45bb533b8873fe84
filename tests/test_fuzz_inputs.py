"""Property-based tests over what users type: reward specs, env options, sweep grids and
spec files (JSON/TOML) and reward-candidate files. For every generated input the parser
gives a valid object or raises `ConfigError` with a one-line message; any other
exception (a traceback at the CLI) fails. About 10k inputs in all (the `EXAMPLES` sum),
derandomized so CI sees the same ones; parsers only, nothing compiles.
"""

import dataclasses
import json
import math
import string
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jaxshape.errors import ConfigError

EXAMPLES = {"reward_text": 1500, "reward_terms": 1000, "env_text": 1500, "env_values": 1500, "sweep_dict": 1800,
            "sweep_toml": 1200, "sweep_flags": 1000, "candidates": 500}  # 10,000 inputs


def fuzz(name):
    return settings(max_examples=EXAMPLES[name], deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


def one_line_or_valid(parse, *args, valid=lambda result: True):
    """Call the parser: a result `valid` accepts, or a ConfigError of one line."""
    try:
        result = parse(*args)
    except ConfigError as err:
        message = str(err)
        assert message and "\n" not in message, repr(message)
        return None
    assert valid(result), result
    return result


# ------------------------------------------------------------------ shared values
WORDS = ["simhash", "pole_upright", "goal_distance", "rnd", "extrinsic", "None", "nan", "inf", "-inf", "1e999",
         "()", "(1, 2)", "(0,)", "[1]", "{}", "{[]: 1}", "{{}}", "'x'", "\"y\"", "True", "0x10", "1_000", "-0.0",
         "(" * 30 + ")" * 30, "9" * 5000, "lambda: 1", "__import__('os')", "b'x'", "1j", "...", "sparse"]
literals = st.one_of(
    st.integers(-2**70, 2**70).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.booleans().map(str), st.sampled_from(WORDS), st.text(string.printable, max_size=8))
python_values = st.one_of(
    st.integers(-2**40, 2**40), st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
    st.text(max_size=6), st.tuples(st.integers(-3, 3)), st.lists(st.floats(), max_size=2))


# ------------------------------------------------------------------ reward specs
ARGUMENTS = ["beta", "coef", "lr", "stream", "factor", "potential", "hash", "eps", "kind", "radius", "shape", "names",
             "eta", "lam", "alpha", "low", "high", "gamma", "x", "achieved_fn", "locate", "env", "params"]


@st.composite
def reward_terms(draw):
    from jaxshape.rewards.spec import BUILDERS

    terms = []
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from([*BUILDERS, "Count", "rnd2", "", "unknown", "rnd ", " count"]))
        if draw(st.booleans()):
            pairs = draw(st.lists(st.tuples(st.sampled_from(ARGUMENTS), literals), max_size=3))
            name += "(" + ", ".join(f"{k}={v}" for k, v in pairs) + draw(st.sampled_from([")", "", "))", ",)"]))
        terms.append(name)
    return draw(st.sampled_from(["+", " + ", "++", ","])).join(terms)


def is_transform(result):
    from jaxshape.rewards import RewardTransform

    return isinstance(result, RewardTransform)


@fuzz("reward_text")
@given(st.text(alphabet="abcdeklnorstuvy_()=,+.0123456789 -'\"[]{}e", max_size=40))
def test_any_reward_text_is_a_transform_or_one_line(text):
    from jaxshape.rewards.spec import parse_reward_spec

    one_line_or_valid(parse_reward_spec, text, None, valid=is_transform)


@fuzz("reward_terms")
@given(reward_terms(), st.sampled_from([None, "CartPole-v1", "DeepSea-bsuite"]))
def test_generated_reward_specs_are_a_transform_or_one_line(spec, env):
    from jaxshape.rewards.spec import parse_reward_spec

    one_line_or_valid(parse_reward_spec, spec, env, valid=is_transform)


# ------------------------------------------------------------------ env options
FIELDS = ["max_steps_in_episode", "gravity", "length", "tau", "masspole", "episode_length", "name", "horizon",
          "impl", "x_threshold", "deterministic", "self", "kwargs"]


def env_or_error(options, env="CartPole-v1"):
    from jaxshape.envs import make

    return one_line_or_valid(lambda: make(env, **options), valid=lambda pair: len(pair) == 2)


@fuzz("env_text")
@given(st.lists(st.tuples(st.sampled_from(FIELDS), literals), max_size=3).map(
    lambda pairs: ",".join(f"{k}={v}" for k, v in pairs)) | st.text(string.printable, max_size=30))
def test_env_option_text_is_an_env_or_one_line(text):
    from jaxshape.envs.registry import parse_options

    options = one_line_or_valid(parse_options, text)
    if options is not None:
        env_or_error(options)


@fuzz("env_values")
@given(st.dictionaries(st.sampled_from(FIELDS), python_values, max_size=3),
       st.sampled_from(["CartPole-v1", "DeepSea-bsuite", "BernoulliBandit-misc", "PointGoal-v0"]))
def test_env_option_values_are_an_env_or_one_line(options, env):
    result = env_or_error(options, env)
    if result is not None:  # what was accepted is what the env got
        _, params = result
        for key, value in options.items():
            if hasattr(params, key) and isinstance(value, float) and math.isfinite(value):
                assert float(getattr(params, key)) == value


# ------------------------------------------------------------------ sweep specs
HPARAMS = ["learning_rate", "gamma", "ent_coef", "gae_lambda", "num_envs", "unknown", "reward.lr", "reward_coefs.rnd"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=2),
    max_leaves=6)
grids = st.dictionaries(st.sampled_from(HPARAMS), st.lists(st.floats() | st.integers(-5, 5) | st.text(max_size=2),
                                                           max_size=3) | json_values, max_size=2)
randoms = st.dictionaries(
    st.sampled_from(HPARAMS + ["num_samples"]),
    st.dictionaries(st.sampled_from(["uniform", "log_uniform", "choice", "normal"]),
                    st.lists(st.floats(-2, 2) | st.integers(-2, 2), max_size=3), max_size=2) | json_values,
    max_size=2)
odd = st.sampled_from([None, True, 0, -1, 3, 2.5, math.nan, math.inf, "", "x", [], [1, "a"], [[1]], {}, {"a": 1},
                       {"uniform": None}])  # a wrong type in any place (cheaper to draw than json_values)
SWEEP_KEYS = {
    "algo": st.sampled_from(["ppo", "sac", "dqn"]) | odd,
    "env": st.sampled_from(["CartPole-v1", "Breakout-MinAtar"]) | odd,
    "preset": st.sampled_from(["minatar", "nope"]) | odd,
    "config": st.dictionaries(st.sampled_from(["num_envs", "total_steps", "hidden_sizes", "bogus"]),
                              json_values, max_size=2) | odd,
    "hparams": st.dictionaries(st.sampled_from(HPARAMS), json_values, max_size=2) | odd,
    "grid": grids | odd, "random": randoms | odd,
    "num_samples": st.integers(-1, 3) | odd, "seeds": st.integers(-2, 4) | st.lists(st.integers(0, 9), max_size=3) | odd,
    "seed": st.integers(-2, 4) | odd, "search_seed": odd, "max_batch": st.integers(-1, 3) | odd, "rank_by": odd,
    "reward": st.sampled_from(["", "rnd", "count(beta=0.1)"]) | odd, "fitness": odd,
    "options": st.dictionaries(st.sampled_from(["eval_every", "chunk_updates", "bogus"]), odd, max_size=2) | odd,
    "bogus": odd,
}
sweep_payloads = st.fixed_dictionaries({}, optional=SWEEP_KEYS)


def sweep_plan(payload):
    """What `jaxshape sweep` plans from a spec before compiling: the spec, the algorithm's
    static config and the list of configurations."""
    from jaxshape import sweep
    from jaxshape.run import builder

    spec = sweep.spec_from_dict(payload)
    config_cls, _, _, default_hparams = builder.builders(spec.algo)
    builder.make_config(spec.algo, spec.config)
    return sweep.configurations(spec, default_hparams(), config_cls)


def is_plan(configurations):
    return isinstance(configurations, list) and configurations and all(
        isinstance(c, dict) and all(isinstance(v, float) and math.isfinite(v) for v in c.values())
        for c in configurations)


@fuzz("sweep_dict")
@given(sweep_payloads)
def test_sweep_specs_are_a_plan_or_one_line(payload):
    one_line_or_valid(sweep_plan, payload, valid=is_plan)


def toml_value(value):
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, (int, str)):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items() if v is not None) + " }"
    return '""'


@st.composite
def toml_documents(draw):
    payload = draw(sweep_payloads)
    lines = [f"{key} = {toml_value(value)}" for key, value in payload.items() if not isinstance(value, dict)]
    for key, value in payload.items():
        if isinstance(value, dict):
            lines.append(f"[{json.dumps(key)}]")
            lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items() if v is not None]
    if draw(st.booleans()):  # and some damage: a cut, a stray character
        text = "\n".join(lines)
        cut = draw(st.integers(0, len(text)))
        return text[:cut] + draw(st.sampled_from(["", "=", "[", "]", "\"", "\n[grid]\n", "{", "\0"])) + text[cut:]
    return "\n".join(lines)


@fuzz("sweep_toml")
@given(toml_documents())
def test_sweep_toml_files_are_a_plan_or_one_line(text):
    from jaxshape.sweep.spec import load_spec

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sweep.toml"
        path.write_text(text)

        def plan():
            spec = load_spec(path)
            return sweep_plan({k: v for k, v in dataclasses.asdict(spec).items() if k not in ("preset",)})

        one_line_or_valid(plan, valid=is_plan)


@fuzz("sweep_flags")
@given(st.lists(st.sampled_from(["--grid", "--random"]).flatmap(lambda flag: st.tuples(st.just(flag), st.one_of(
    st.text(string.printable, max_size=25),
    st.tuples(st.sampled_from(HPARAMS), st.sampled_from(["=", ":", ""]),
              st.lists(literals, max_size=3).map(",".join), st.sampled_from(["", ":1:2", "uniform:", "choice:"])
              ).map("".join)))), min_size=1, max_size=3))
def test_sweep_grid_and_random_flags_are_a_plan_or_one_line(flags):
    from jaxshape.cli.sweep import _grid_item, _random_item

    def plan():
        payload = {"grid": {}, "random": {}}
        for flag, text in flags:
            name, values = (_grid_item if flag == "--grid" else _random_item)(text)
            payload["grid" if flag == "--grid" else "random"][name] = values
        return sweep_plan({**payload, "random": {**payload["random"], "num_samples": 2}})

    one_line_or_valid(plan, valid=is_plan)


# ------------------------------------------------------------------ reward candidates
CANDIDATE_EXPRESSIONS = ["[counts.count_bonus(beta=0.1)]", "{'a': counts.count_bonus(), 'b': normalize.symlog()}",
                         "[]", "{}", "None", "3", "'rnd'", "[1, 2]", "{1: counts.count_bonus()}",
                         "{'not an id': normalize.symlog()}", "[normalize.symlog(), normalize.symlog()]",
                         "(normalize.clip(),)", "{'x': None}", "undefined_name", "1/0", "[counts.count_bonus(nope=1)]"]


@fuzz("candidates")
@given(st.sampled_from(CANDIDATE_EXPRESSIONS), st.sampled_from(["CANDIDATES = ", "candidates = ", "CANDIDATES: "]),
       st.sampled_from(["", "\n", "\nraise SystemExit(3)", "\nimport sys; sys.exit()", "(", "\nCANDIDATES = []"]),
       st.sampled_from(["from jaxshape.rewards import counts, normalize\n", ""]))
def test_reward_candidate_files_are_candidates_or_one_line(expression, assignment, tail, imports):
    from jaxshape.rewards import RewardTransform
    from jaxshape.run.builder import load_candidates

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "candidates.py"
        path.write_text(imports + assignment + expression + tail)
        one_line_or_valid(load_candidates, str(path), valid=lambda pair: len(pair[0]) == len(pair[1]) and all(
            isinstance(t, RewardTransform) for t in pair[1]) and all(n.isidentifier() for n in pair[0]))


def test_the_budget_is_ten_thousand_inputs():
    assert sum(EXAMPLES.values()) == 10_000
