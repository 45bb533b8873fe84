"""Pure, stateful, composable reward transforms."""

from jaxshape.rewards.base import (
    EXTRINSIC,
    NOT_INVARIANT,
    POLICY_INVARIANT,
    POSITIVE_SCALE,
    RewardTransform,
    Rewards,
    Stream,
    final_features,
    identity,
    no_state,
    no_update,
    reset_where,
    weighted_sum,
)
from jaxshape.rewards.combine import chain
from jaxshape.rewards.learned import learned_potential
from jaxshape.rewards.select import select
from jaxshape.rewards.terms import term

__all__ = [
    "EXTRINSIC",
    "NOT_INVARIANT",
    "POLICY_INVARIANT",
    "POSITIVE_SCALE",
    "RewardTransform",
    "Rewards",
    "Stream",
    "chain",
    "final_features",
    "identity",
    "learned_potential",
    "no_state",
    "no_update",
    "reset_where",
    "select",
    "term",
    "weighted_sum",
]

# --- shaping, automata, goals, normalisation (shaping.py, automaton.py, goals.py, normalize.py)
from jaxshape.rewards.shaping import potential_shaping  # noqa: E402
from jaxshape.rewards.automaton import reward_machine, subgoal_sequence  # noqa: E402
from jaxshape.rewards.goals import goal_reward, goal_reward_fn  # noqa: E402
from jaxshape.rewards.normalize import clip, normalize_returns, scale, schedule, sum_streams, symlog  # noqa: E402

__all__ += [
    "potential_shaping",
    "reward_machine",
    "subgoal_sequence",
    "goal_reward",
    "goal_reward_fn",
    "normalize_returns",
    "clip",
    "scale",
    "symlog",
    "sum_streams",
    "schedule",
]
# --- end shaping, automata, goals, normalisation

# --- intrinsic and submodular rewards (counts.py, rnd.py, icm.py, e3b.py, noveld.py, submodular.py)
from jaxshape.rewards.counts import count_bonus  # noqa: E402
from jaxshape.rewards.rnd import rnd  # noqa: E402
from jaxshape.rewards.icm import icm  # noqa: E402
from jaxshape.rewards.e3b import e3b, sherman_morrison  # noqa: E402
from jaxshape.rewards.noveld import noveld  # noqa: E402
from jaxshape.rewards.submodular import (  # noqa: E402
    additive_visits,
    coverage,
    facility_location,
    grid_locator,
    info_locator,
    logdet_coverage,
)

__all__ += [
    "count_bonus",
    "rnd",
    "icm",
    "e3b",
    "sherman_morrison",
    "noveld",
    "coverage",
    "additive_visits",
    "facility_location",
    "logdet_coverage",
    "grid_locator",
    "info_locator",
]
# --- end intrinsic and submodular rewards

# --- gated and multiplicative combinations (gates.py)
from jaxshape.rewards.gates import gate, multiply, terminate_if  # noqa: E402

__all__ += ["gate", "multiply", "terminate_if"]
# --- end gated and multiplicative combinations

# --- an env's own reward terms as streams (env_terms.py)
from jaxshape.rewards.env_terms import env_terms  # noqa: E402

__all__ += ["env_terms"]
# --- end an env's own reward terms

# --- rewards learned from preferences (preference.py)
from jaxshape.rewards.preference import bradley_terry_loss, preference_reward, teacher_labels, true_return  # noqa: E402

__all__ += ["preference_reward", "bradley_terry_loss", "teacher_labels", "true_return"]
# --- end rewards learned from preferences
# --- adversarial imitation: GAIL, AIRL (imitation.py)
from jaxshape.rewards.imitation import adversarial_imitation, airl, gail  # noqa: E402

__all__ += ["adversarial_imitation", "gail", "airl"]
# --- end adversarial imitation
