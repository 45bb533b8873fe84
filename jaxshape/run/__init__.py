"""Running a learner: the chunked driver, the training job with its run folder
(checkpoints, logs, evaluation, plots), policy export and the compilation cache.

    driver.py         compiled init / chunk / evaluate programs, scanned in chunks
    job.py            `train` and `resume`: a run folder around the driver
    checkpoints.py    orbax checkpoints of the whole training state
    logs.py           config.json, metrics.jsonl, TensorBoard events, summary.json
    builder.py        learners by name, from (algorithm, config, reward spec)
    presets.py        named settings (`--preset minatar`) that explicit values override
    policy.py         greedy policies out of run folders
    plotting.py       learning curves
    compile_cache.py  JAX's persistent compilation cache, on by default for the CLI
"""
