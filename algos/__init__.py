"""Learners: PPO (and their networks, action heads and return estimators)."""

from jaxshape.algos.ppo import PPO, PPOConfig, PPOHParams, PPOState, default_hparams, make_ppo

__all__ = ["PPO", "PPOConfig", "PPOHParams", "PPOState", "default_hparams", "make_ppo"]
