"""Hyperparameter sweeps: grid or random search over traced hyperparameters x seeds,
every member trained from one compilation.

    spec.py     what to search: SweepSpec, dotted hyperparameter paths, configurations
    plan.py     equal batches that fit the devices' memory, over devices and processes
    execute.py  run_sweep / resume_sweep: batches as run folders, one compiled driver
    report.py   per-configuration statistics, results tables, best.json, the plot
"""

from jaxshape.sweep.execute import resume_sweep, run_sweep
from jaxshape.sweep.plan import members_that_fit, plan_batches
from jaxshape.sweep.report import iqm, write_results
from jaxshape.sweep.spec import (RANK_KEYS, SweepSpec, configurations, hparam_names, load_spec, spec_from_dict,
                                 with_values)

__all__ = ["RANK_KEYS", "SweepSpec", "configurations", "hparam_names", "iqm", "load_spec", "members_that_fit",
           "plan_batches", "resume_sweep", "run_sweep", "spec_from_dict", "with_values", "write_results"]
