"""Weights & Biases logging (`--logger wandb`): one W&B run per member, all in one group.

A jaxshape run trains its members (seeds x hyperparameters) in one vmapped program, and
its metrics arrive on the host as [members, updates] arrays per chunk. This logger splits
them: member i's W&B run gets member i's own value of every metric at every update
(`step` = that member's env steps), not the mean over members. Episode metrics are
logged only once the member has finished an episode; evaluation metrics only at the
updates that evaluated; a reward candidate's metrics only while the member runs it.

Runs are grouped where a researcher looks for them:
    jaxshape train          group = the run folder's name, name = <group>/member-<i>
    jaxshape sweep          group = the sweep folder's name, job_type = the batch,
                            name = <group>/member-<m> (m: the sweep's member index)
    jaxshape search         group = the search folder's name, job_type = gen-NNNN,
                            name = <group>/gen-NNNN/member-<i>
Each run's config is that member's hyperparameters by dotted name (`learning_rate`,
`reward_coefs.rnd`), its `seed` and `member`, and the static config under `config`. With
population-based training the hyperparameters change between chunks: their current
values are logged as metrics too (`hparams/<name>`).

The W&B run ids are kept in the run folder (`wandb_runs.json`, with the last step
logged), so `jaxshape train --resume` continues the same W&B runs (`resume="allow"`) and
does not log again the updates it redoes. A run that diverges or is interrupted finishes
its W&B runs with exit code 1 (failed). W&B's own settings come from its environment
variables (`WANDB_MODE=offline` writes the runs under `<run folder>/wandb/` without a
network; `wandb sync` uploads them later; `WANDB_PROJECT`, default `jaxshape`).
"""

from __future__ import annotations

import json
import os
import pathlib
import secrets
from typing import Any

import numpy as np

STATE_FILE = "wandb_runs.json"


def flat_member_hparams(hparams: dict[str, Any], member: int, prefix: str = "") -> dict[str, Any]:
    """Member `member`'s hyperparameters (config.json's per-member lists) by dotted name."""
    out: dict[str, Any] = {}
    for name, value in hparams.items():
        if isinstance(value, dict):
            out.update(flat_member_hparams(value, member, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = value[member]
    return out


def _layout(run_dir: pathlib.Path, config: dict[str, Any]) -> tuple[str, str | None, list[tuple[int, str]]]:
    """(group, job_type, [(member index in this run folder, run name)])."""
    members = len(config["seeds"])
    if "sweep" in config:
        sweep = config["sweep"]
        group = pathlib.Path(sweep["dir"]).name
        ids = sweep.get("members", list(range(members)))[:sweep.get("real", members)]  # padding is not logged
        return group, sweep["batch"], [(i, f"{group}/member-{m}") for i, m in enumerate(ids)]
    if "search" in config:
        group, gen = pathlib.Path(config["search"]["dir"]).name, f"gen-{config['search']['generation']:04d}"
        return group, gen, [(i, f"{group}/{gen}/member-{i}") for i in range(members)]
    group = run_dir.name
    return group, None, [(i, f"{group}/member-{i}") for i in range(members)]


def _member_config(config: dict[str, Any], member: int) -> dict[str, Any]:
    extra = {}
    if "sweep" in config:
        extra = {"sweep": config["sweep"]["dir"], "batch": config["sweep"]["batch"]}
    elif "search" in config:
        extra = {"search": config["search"]["dir"], "generation": config["search"]["generation"]}
    return {**flat_member_hparams(config["hparams"], member), "seed": config["seeds"][member], "member": member,
            "algo": config["algo"], "reward": config.get("reward", ""), "config": config["config"], **extra}


class WandbLogger:
    """The W&B runs of one run folder's members; `log` takes each chunk's metrics."""

    def __init__(self, run_dir: str | pathlib.Path, config: dict[str, Any], resume_after_step: int | None = None):
        import wandb

        self.dir = pathlib.Path(run_dir)
        state_path = self.dir / STATE_FILE
        group, job_type, members = _layout(self.dir, config)
        if resume_after_step is not None and state_path.exists():
            state = json.loads(state_path.read_text())
            ids = state["ids"]
            self.logged_through = state["logged_through_step"]  # redone updates are not logged twice
        else:
            ids = [secrets.token_hex(4) for _ in members]  # W&B's id alphabet: a-z, 0-9
            self.logged_through = -1
        self.ids = ids
        self._save_state()  # before init: a crash right after still resumes the same runs
        self.members = [i for i, _ in members]
        self.runs = []
        try:
            for (i, name), run_id in zip(members, ids):
                self.runs.append(wandb.init(
                    project=os.environ.get("WANDB_PROJECT", "jaxshape"), group=group, job_type=job_type, name=name,
                    id=run_id, resume="allow", config=_member_config(config, i), dir=str(self.dir),
                    reinit="create_new", settings=wandb.Settings(console="off", silent=True)))
        except BaseException:
            self.close()
            raise

    def _save_state(self) -> None:
        tmp = self.dir / f".{STATE_FILE}.tmp"
        tmp.write_text(json.dumps({"ids": self.ids, "logged_through_step": self.logged_through}) + "\n")
        tmp.replace(self.dir / STATE_FILE)

    def log(self, metrics: dict[str, np.ndarray], hparams: dict[str, np.ndarray] | None = None) -> None:
        """One `run.log` per member and update not logged before; `hparams` ({dotted
        name: [members]}, optional) is logged at the chunk's last update."""
        from jaxshape.run.logs import _selectors

        steps = np.asarray(metrics["step"][0])
        valid = np.asarray(metrics["episode_valid"], bool)
        selectors = _selectors(metrics)
        columns = []
        for name, values in sorted(metrics.items()):
            if name in ("step", "episode_valid"):
                continue
            owner = next((p for p in selectors if name.startswith(p) and not name.endswith("/selected")), None)
            values = np.asarray(values, np.float64)
            keep = np.isfinite(values)
            if name.startswith("episode_"):
                keep &= valid
            if owner is not None:
                keep &= selectors[owner]
            columns.append((name, values, keep))
        last = len(steps) - 1
        for u, step in enumerate(steps.tolist()):
            if step <= self.logged_through:
                continue  # already logged before a resume
            for run, i in zip(self.runs, self.members):
                payload = {name: float(values[i, u]) for name, values, keep in columns if keep[i, u]}
                if hparams is not None and u == last:
                    payload.update({f"hparams/{name}": float(v[i]) for name, v in hparams.items()})
                run.log(payload, step=int(step))
        if len(steps) and steps[-1] > self.logged_through:
            self.logged_through = int(steps[-1])
            self._save_state()

    def close(self, exit_code: int = 0) -> None:
        for run in self.runs:
            run.finish(exit_code=exit_code)
        self.runs = []
