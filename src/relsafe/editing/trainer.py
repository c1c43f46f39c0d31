"""The training loop shared by every edit (encoder, causal LM, concept-erasure baseline).

One loop, many losses: a family supplies ``compute_terms(model, ctx) -> {name: tensor}`` and
the weights; the loop does the rest. What it guarantees:

- seeded and deterministic on CPU: each step draws its batch from its own generator
  ``default_rng([seed, step, process])``, so a resumed run sees exactly the batches an
  uninterrupted one would;
- ``accelerate`` underneath (CPU, one CUDA GPU with bf16, or ``accelerate launch`` for
  several processes);
- loss terms averaged over ``log_every`` steps go to ``on_metrics`` (MLflow in the node);
- early stop when the monitored term stops improving for ``patience`` checks;
- atomic checkpoints every ``checkpoint.every`` steps (trainable weights, optimizer,
  scheduler, RNG, history); a rerun with the same fingerprint resumes from the last one.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from relsafe.editing.device import resolve_device, resolve_precision
from relsafe.timing import LoopEstimate

logger = logging.getLogger(__name__)

CKPT_WEIGHTS = "trainable.safetensors"
CKPT_STATE = "trainer_state.pt"
CKPT_META = "state.json"

MetricCallback = Callable[[dict[str, float], int], None]
StepCallback = Callable[[int, dict[str, float]], None]


@dataclass
class EarlyStopConfig:
    """Stop when ``monitor`` (a term averaged over ``log_every`` steps) stops improving."""

    monitor: str = "loss"
    patience: int = 0  # checks (every log_every steps) without improvement; 0 = never stop early
    min_delta: float = 0.0
    min_steps: int = 0  # never stop before this step
    mode: str = "min"


@dataclass
class CheckpointConfig:
    dir: str | None = None  # null: no checkpoints
    every: int = 0  # steps between checkpoints; 0 = none
    resume: bool = True  # resume from a checkpoint with the same fingerprint
    keep: bool = False  # keep the last checkpoint once the run has finished


@dataclass
class TrainerConfig:
    """The loop's share of ``params:train_edit`` (unknown keys belong to the families)."""

    seed: int = 0
    steps: int = 100
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 0
    grad_clip: float | None = 1.0
    log_every: int = 10
    device: str = "auto"
    mixed_precision: str = "auto"
    progress: bool = True
    #: steps timed before logging the estimated duration (step time x steps left); 0 = never
    estimate_after: int = 3
    dropout: bool = (
        False  # keep the base model's dropout on while training (off: exact retain targets)
    )
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    early_stop: EarlyStopConfig = field(default_factory=EarlyStopConfig)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> TrainerConfig:
        keys = {f.name for f in fields(cls)}
        kw = {k: v for k, v in params.items() if k in keys}
        kw["checkpoint"] = _sub(CheckpointConfig, params.get("checkpoint"), "train_edit.checkpoint")
        kw["early_stop"] = _sub(EarlyStopConfig, params.get("early_stop"), "train_edit.early_stop")
        cfg = cls(**kw)
        if cfg.steps < 1:
            raise ValueError(f"train_edit.steps: {cfg.steps}; expected >= 1")
        if cfg.log_every < 1:
            raise ValueError(f"train_edit.log_every: {cfg.log_every}; expected >= 1")
        if cfg.estimate_after < 0:
            raise ValueError(f"train_edit.estimate_after: {cfg.estimate_after}; expected >= 0")
        if cfg.early_stop.mode not in ("min", "max"):
            raise ValueError(
                f"train_edit.early_stop.mode: {cfg.early_stop.mode!r}; expected 'min' or 'max'"
            )
        return cfg


def _sub(cls: type, value: Mapping | None, where: str) -> Any:
    value = dict(value or {})
    unknown = sorted(set(value) - {f.name for f in fields(cls)})
    if unknown:
        raise ValueError(
            f"{where}: unknown key(s) {unknown}; expected some of {[f.name for f in fields(cls)]}"
        )
    return cls(**value)


@dataclass
class StepContext:
    """What ``compute_terms`` gets besides the model: the step, its own RNG and the device."""

    step: int
    rng: np.random.Generator
    device: torch.device
    weights: Mapping[str, float]


ComputeTerms = Callable[[nn.Module, StepContext], dict[str, torch.Tensor]]


@dataclass
class TrainResult:
    model: nn.Module
    history: pd.DataFrame
    steps_run: int
    stopped_early: bool
    resumed_from: int
    seconds: float
    device: str
    mixed_precision: str


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def trainable_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def _atomic_write_dir(directory: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` into a sibling temp folder, then swap it in with renames."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        write(tmp)
        old = directory.with_name(f".{directory.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if directory.exists():
            os.replace(directory, old)
        os.replace(tmp, directory)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@dataclass
class _EarlyStopper:
    cfg: EarlyStopConfig
    best: float | None = None
    bad: int = 0

    def update(self, value: float, step: int) -> bool:
        """Record one check; True when training should stop."""
        if not math.isfinite(value):
            return False
        sign = 1.0 if self.cfg.mode == "min" else -1.0
        if self.best is None or sign * (self.best - value) > self.cfg.min_delta:
            self.best, self.bad = value, 0
        else:
            self.bad += 1
        return (
            bool(self.cfg.patience) and self.bad >= self.cfg.patience and step >= self.cfg.min_steps
        )


def _decide_stop(accelerator, stopper: _EarlyStopper, value: float, step: int) -> bool:
    """One early-stop decision for all processes.

    Each process sees its own batches, so its window mean differs: decided per process, one
    rank could leave the loop while the others wait in ``wait_for_everyone`` (or a collective)
    forever. The monitored value is averaged across processes, every process updates its
    stopper with that same value, and the main process's decision is broadcast.
    """
    if accelerator.num_processes <= 1:
        return stopper.update(value, step)
    from accelerate.utils import broadcast

    mean = accelerator.reduce(
        torch.tensor([float(value)], dtype=torch.float64, device=accelerator.device),
        reduction="mean",
    )
    decision = torch.tensor(
        [int(stopper.update(float(mean.item()), step))], device=accelerator.device
    )
    return bool(broadcast(decision, from_process=0).item())


class Checkpointer:
    """Save / load the loop's state in one folder, atomically."""

    def __init__(self, directory: str | Path, fingerprint: str):
        self.dir = Path(directory)
        self.fingerprint = fingerprint

    def exists(self) -> bool:
        return (self.dir / CKPT_META).is_file()

    def save(
        self,
        model: nn.Module,
        optimizer,
        scheduler,
        step: int,
        history: list[dict],
        stopper: _EarlyStopper,
    ) -> None:
        weights = {n: p.detach().cpu().contiguous() for n, p in trainable_parameters(model).items()}
        state = {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }
        meta = {
            "fingerprint": self.fingerprint,
            "step": step,
            "history": history,
            "early_stop": {"best": stopper.best, "bad": stopper.bad},
        }

        def write(tmp: Path) -> None:
            save_file(weights, str(tmp / CKPT_WEIGHTS))
            torch.save(state, tmp / CKPT_STATE)
            (tmp / CKPT_META).write_text(json.dumps(meta))

        _atomic_write_dir(self.dir, write)

    def load(
        self, model: nn.Module, optimizer, scheduler, stopper: _EarlyStopper
    ) -> tuple[int, list[dict]] | None:
        """Restore in place; returns (step, history), or None when there is nothing to resume."""
        if not self.exists():
            return None
        meta = json.loads((self.dir / CKPT_META).read_text())
        if meta.get("fingerprint") != self.fingerprint:
            logger.warning(
                "checkpoint %s was made for other params/data (fingerprint %s..., now %s...); starting afresh",
                self.dir,
                str(meta.get("fingerprint"))[:10],
                self.fingerprint[:10],
            )
            return None
        params = trainable_parameters(model)
        weights = load_file(str(self.dir / CKPT_WEIGHTS))
        if set(weights) != set(params):
            raise ValueError(
                f"checkpoint {self.dir}: trainable parameters differ from the model's ({len(weights)} vs {len(params)})"
            )
        with torch.no_grad():
            for name, value in weights.items():
                params[name].copy_(value.to(params[name].device))
        # weights_only: torch's restricted unpickler (tensors, numbers, strings, containers);
        # the state holds only those, and a tampered file cannot run code on resume
        state = torch.load(self.dir / CKPT_STATE, weights_only=True, map_location="cpu")
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        stopper.best, stopper.bad = meta["early_stop"]["best"], meta["early_stop"]["bad"]
        return int(meta["step"]), list(meta["history"])

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _window_means(rows: list[dict]) -> dict[str, float]:
    keys = [k for k in rows[-1] if k not in ("step", "seconds")]
    return {k: float(np.mean([r[k] for r in rows if k in r])) for k in keys}


def _release_stale_accelerator_state(precision: str) -> None:
    """Let one process train at another precision than its last run (an fp32 encoder edit,
    then a bf16 LM edit): accelerate keeps its state process-wide and refuses to change it.

    Only in a single process; under ``accelerate launch`` the launcher's state stands.
    """
    from accelerate.state import AcceleratorState, PartialState

    state = AcceleratorState._shared_state
    if not state or PartialState().num_processes != 1:
        return
    if str(state.get("_mixed_precision", precision)) != precision:
        AcceleratorState._reset_state()


def train_loop(
    model: nn.Module,
    compute_terms: ComputeTerms,
    weights: Mapping[str, float],
    cfg: TrainerConfig,
    fingerprint: str = "",
    checkpoint_name: str = "edit",
    on_metrics: MetricCallback | None = None,
    on_step: StepCallback | None = None,
    desc: str = "LoRA edit",
) -> TrainResult:
    """Optimise the trainable parameters of ``model`` on ``sum(weight * term)``.

    ``on_step(step, row)`` runs after each step (and its checkpoint); raising there aborts
    the run as a kill would, which the resume test uses.
    """
    from accelerate import Accelerator

    device = resolve_device(cfg.device)
    precision = resolve_precision(device, cfg.mixed_precision)
    _release_stale_accelerator_state(precision)
    accelerator = Accelerator(cpu=device == "cpu", mixed_precision=precision)
    seed_everything(cfg.seed)
    deterministic = torch.are_deterministic_algorithms_enabled()
    if device == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)

    params = list(trainable_parameters(model).values())
    if not params:
        raise ValueError(
            "train_loop: the model has no trainable parameters (was a LoRA adapter added?)"
        )
    optimizer = torch.optim.AdamW(params, lr=float(cfg.lr), weight_decay=float(cfg.weight_decay))
    warmup = max(int(cfg.warmup_steps), 0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) if warmup else 1.0
    )
    model, optimizer = accelerator.prepare(model, optimizer)

    stopper = _EarlyStopper(cfg.early_stop)
    ckpt = None
    if cfg.checkpoint.dir and (cfg.checkpoint.every or cfg.checkpoint.resume):
        ckpt = Checkpointer(Path(cfg.checkpoint.dir) / checkpoint_name, fingerprint)
    start_step, history = 0, []
    if ckpt is not None and cfg.checkpoint.resume:
        restored = ckpt.load(accelerator.unwrap_model(model), optimizer, scheduler, stopper)
        if restored is not None:
            start_step, history = restored
            logger.info(
                "%s: resuming from the checkpoint at step %d (%s)", desc, start_step, ckpt.dir
            )

    active = {k: float(w) for k, w in weights.items() if float(w) != 0.0}
    stopped_early = bool(history) and history[-1].get("stopped_early", False)
    t0 = time.perf_counter()
    # Eval mode unless asked: with dropout on, even an unchanged model misses its own frozen
    # embeddings (~0.05 cosine on MiniLM), which swamps a drift budget of 0.02.
    model.train(bool(cfg.dropout))
    bar = tqdm(
        range(start_step + 1, cfg.steps + 1),
        desc=desc,
        initial=start_step,
        total=cfg.steps,
        disable=not cfg.progress or not accelerator.is_local_main_process,
    )
    step = start_step
    estimate = LoopEstimate(desc, cfg.steps - start_step, after=cfg.estimate_after, log=logger)
    try:
        for step in bar:
            if stopped_early:
                break
            ctx = StepContext(
                step,
                np.random.default_rng([cfg.seed, step, accelerator.process_index]),
                accelerator.device,
                active,
            )
            with accelerator.autocast():  # the LM fast path calls the decoder directly
                terms = compute_terms(model, ctx)
            unknown = sorted(set(terms) - set(weights))
            if unknown:
                raise KeyError(
                    f"loss term(s) {unknown} have no weight in params (known: {sorted(weights)})"
                )
            loss = sum(active[k] * v for k, v in terms.items() if k in active)
            if not isinstance(loss, torch.Tensor):
                raise ValueError(f"step {step}: no active loss term (weights {dict(weights)})")
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            if cfg.grad_clip:
                accelerator.clip_grad_norm_(params, float(cfg.grad_clip))
            optimizer.step()
            scheduler.step()
            row = {
                "step": step,
                "loss": float(loss.detach()),
                **{k: float(v.detach()) for k, v in terms.items()},
                "lr": scheduler.get_last_lr()[0],
            }
            history.append(row)
            bar.set_postfix(loss=f"{row['loss']:.4f}")
            estimate.tick()
            if step % cfg.log_every == 0 or step == cfg.steps:
                window = _window_means(history[-cfg.log_every :])
                if on_metrics and accelerator.is_main_process:
                    on_metrics({f"train/{k}": v for k, v in window.items()}, step)
                if cfg.early_stop.monitor not in window:
                    raise KeyError(
                        f"train_edit.early_stop.monitor {cfg.early_stop.monitor!r} is not a logged term {sorted(window)}"
                    )
                if _decide_stop(accelerator, stopper, window[cfg.early_stop.monitor], step):
                    stopped_early = True
                    row["stopped_early"] = True
                    logger.info(
                        "%s: early stop at step %d (%s did not improve for %d checks)",
                        desc,
                        step,
                        cfg.early_stop.monitor,
                        cfg.early_stop.patience,
                    )
            if (
                ckpt is not None
                and cfg.checkpoint.every
                and (step % cfg.checkpoint.every == 0 or stopped_early)
            ):
                accelerator.wait_for_everyone()
                if accelerator.is_main_process:
                    ckpt.save(
                        accelerator.unwrap_model(model),
                        optimizer,
                        scheduler,
                        step,
                        history,
                        stopper,
                    )
            if on_step is not None:
                on_step(step, row)
    finally:
        bar.close()
        if device == "cpu" and not deterministic:
            torch.use_deterministic_algorithms(False)
    model.eval()
    unwrapped = accelerator.unwrap_model(model, keep_fp32_wrapper=False)
    if ckpt is not None and not cfg.checkpoint.keep and accelerator.is_main_process:
        ckpt.remove()
    accelerator.free_memory()
    frame = pd.DataFrame(history)
    if "stopped_early" in frame:
        frame["stopped_early"] = frame["stopped_early"].fillna(False).astype(bool)
    return TrainResult(
        model=unwrapped,
        history=frame,
        steps_run=int(history[-1]["step"]) if history else 0,
        stopped_early=stopped_early,
        resumed_from=start_step,
        seconds=round(time.perf_counter() - t0, 2),
        device=device,
        mixed_precision=precision,
    )


def config_dict(cfg: TrainerConfig) -> dict:
    return asdict(cfg)
