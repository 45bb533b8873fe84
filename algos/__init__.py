"""Learners: PPO and SAC, with their networks, action heads, return estimators,
replay buffer and hindsight relabelling."""

from jaxshape.algos.ppo import PPO, PPOConfig, PPOHParams, PPOState, default_hparams, make_ppo
from jaxshape.algos.sac import SAC, SACConfig, SACHParams, make_sac

__all__ = ["PPO", "PPOConfig", "PPOHParams", "PPOState", "SAC", "SACConfig", "SACHParams", "default_hparams",
           "make_ppo", "make_sac"]
