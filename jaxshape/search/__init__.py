"""The outer loop of reward design: evolution strategies (evosax) over reward parameters
and any other traced hyperparameters, a whole population trained per compiled call.

    space.py       what is searched: dotted hyperparameter paths and their ranges
    strategies.py  OpenAI-ES, SNES and CMA-ES from evosax behind init/ask/tell
    execute.py     run_search / resume_search: generations as run folders, the ES state
                   checkpointed, generations.jsonl, best.json, the fitness plot
"""

from jaxshape.search.execute import (FITNESS, SearchSpec, format_values, generation_fitness, resume_search,
                                     run_search, train_command)
from jaxshape.search.space import SearchParam, SearchSpace, parse_param
from jaxshape.search.strategies import STRATEGIES, Strategy, make_strategy

__all__ = ["FITNESS", "STRATEGIES", "SearchParam", "SearchSpace", "SearchSpec", "Strategy", "format_values",
           "generation_fitness", "make_strategy", "parse_param", "resume_search", "run_search", "train_command"]
