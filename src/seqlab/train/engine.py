"""The training engine, shared by every task and ignorant of which one it trains.

A task hands the engine three functions::

    loss_fn(model, batch) -> (mean loss tensor, number of tokens or items in the batch)
    eval_fn(model)        -> {"metric": value, ...}   # on the validation data
    train_batches(epoch)  -> list of batches (dicts of tensors), a function of (seed, epoch) only

and the engine does the rest: AdamW with warmup and cosine/linear/per-epoch exponential decay, gradient clipping, bf16
autocast where it measured faster, evaluation, early stopping on the validation metric, best and
last checkpoints (atomic), exact ``--resume``, a wall-clock ``--time-budget``, a progress bar with
loss, metric and tokens/s, ``metrics.jsonl``, ``curves.png`` and ``summary.json`` with the reason
training stopped.
"""

from __future__ import annotations

import logging
import random
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..device import autocast, resolve_precision
from ..errors import UserError
from ..run import RunDir
from .schedule import SCHEDULES, lr_factor

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    epochs: int = 10  # passes over the training data (an upper bound: early stopping and the time budget may end sooner)
    batch_size: int = 64  # examples per step
    lr: float = 2e-3  # peak learning rate of AdamW
    weight_decay: float = 0.01  # AdamW decay on matrices (not on biases, norms)
    warmup: float = 0.03  # fraction of training spent warming the learning rate up from 0
    schedule: str = "cosine"  # cosine | linear | constant after warmup, or exponential: lr * gamma**(epochs done)
    gamma: float = 0.5  # exponential schedule only: the lr multiplier per completed epoch (0.5 halves it, as DLinear)
    min_lr_ratio: float = 0.05  # the schedule's floor as a fraction of lr
    clip: float = 1.0  # gradient-norm clipping (0 = off)
    ema: float = 0.0  # exponential moving average of the weights (Polyak averaging): 0 = off, else the decay per step
                      # (0.999 averages about the last 1,000 steps); evaluation, the best checkpoint and the run use the average
    patience: int = 3  # evaluations without improvement before stopping early (0 = never)
    eval_every: int = 0  # steps between evaluations (0 = once per epoch)
    time_budget: float = 0.0  # minutes of training before stopping cleanly (0 = no limit)
    max_steps: int = 0  # stop after this many optimizer steps (0 = no limit)
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 (auto measures fp32 vs bf16 on the first batch)
    device: str = "auto"  # auto | cpu | cuda
    seed: int = 0  # seeds weights, shuffling, dropout: same seed, same run on the CPU
    metric: str = "accuracy"  # validation metric for early stopping and the best checkpoint (set by the task)
    mode: str = "max"  # max | min: whether a larger metric is better

    def __post_init__(self):
        if self.epochs < 1:
            raise ValueError(f"epochs must be ≥ 1; found {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1; found {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0; found {self.lr}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}; found {self.schedule!r}")
        if not 0 < self.gamma <= 1:
            raise ValueError(f"gamma is a per-epoch lr multiplier in (0, 1]; found {self.gamma}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"min_lr_ratio is a fraction in [0, 1]; found {self.min_lr_ratio}")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"warmup is a fraction in [0, 1); found {self.warmup}")
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema is a per-step decay in [0, 1) (0 = off); found {self.ema}")
        if self.time_budget < 0 or self.max_steps < 0 or self.patience < 0 or self.clip < 0:
            raise ValueError("time_budget, max_steps, patience and clip must be ≥ 0")
        if self.mode not in ("max", "min"):
            raise ValueError(f"mode must be max or min; found {self.mode!r}")


def _to(batch, device):
    return {k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


def _param_groups(model, weight_decay):
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.dim() >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


class Trainer:
    def __init__(self, model: torch.nn.Module, cfg: TrainConfig, run: RunDir,
                 loss_fn: Callable, eval_fn: Callable, train_batches: Callable[[int], list],
                 device: torch.device, verbose: bool = False, on_step: Callable[[int], None] | None = None,
                 on_progress: Callable[[float], None] | None = None):
        self.model, self.cfg, self.run = model.to(device), cfg, run
        self.loss_fn, self.eval_fn, self.train_batches = loss_fn, eval_fn, train_batches
        self.device, self.verbose, self.on_step = device, verbose, on_step
        self.on_progress = on_progress  # told the progress in [0, 1] (steps or time, whichever is further) before each step
        self.opt = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.98))
        self.ema = None
        if cfg.ema:
            from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

            self.ema = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema), use_buffers=True)

    @property
    def _kept(self) -> torch.nn.Module:
        """The weights that are evaluated and saved: the moving average when ``ema`` is on."""
        return self.ema.module if self.ema is not None else self.model

    def _better(self, value, best):
        if best is None:
            return True
        return value > best if self.cfg.mode == "max" else value < best

    def _evaluate(self, precision):
        kept = self._kept
        kept.eval()
        with torch.inference_mode(), autocast(self.device, precision):
            metrics = self.eval_fn(kept)
        self.model.train()
        if self.cfg.metric not in metrics:
            raise RuntimeError(f"the task's evaluation returned {sorted(metrics)}, not the metric {self.cfg.metric}")
        return metrics

    def fit(self, resume: bool = False) -> dict:
        cfg = self.cfg
        steps_per_epoch = len(self.train_batches(0))
        if steps_per_epoch == 0:
            raise UserError("no training batches: the training data is empty after filtering")
        total = cfg.epochs * steps_per_epoch
        if cfg.max_steps:
            total = min(total, cfg.max_steps)
        eval_every = cfg.eval_every or steps_per_epoch
        st = {"epoch": 0, "step_in_epoch": 0, "step": 0, "best": None, "best_step": 0, "bad": 0,
              "elapsed": 0.0, "eval_s": 0.0, "tokens": 0, "precision": None, "precision_probe": {}}
        if resume and self.run.load_state() is not None:
            st = self._restore()
            log.info("resuming at epoch %d step %d", st["epoch"], st["step"])
        else:
            torch.manual_seed(cfg.seed)
            random.seed(cfg.seed)
            np.random.seed(cfg.seed % 2**32)
        if st["precision"] is None:
            first = _to(self.train_batches(0)[0], self.device)
            st["precision"], st["precision_probe"] = resolve_precision(cfg.precision, self.device, self.model, self.loss_fn, first)
        precision = st["precision"]
        stop_reason = None
        t0 = time.perf_counter() - st["elapsed"]
        run_loss, run_n, window_tokens, window_t = 0.0, 0, 0, time.perf_counter()
        bar = None
        if self.verbose:
            from tqdm import tqdm

            bar = tqdm(total=total, initial=st["step"], file=sys.stderr, unit="step", dynamic_ncols=True, leave=False)
        last_metrics: dict = {}
        self.model.train()
        epoch = st["epoch"]
        while epoch < cfg.epochs and stop_reason is None:
            batches = self.train_batches(epoch)
            for i in range(st["step_in_epoch"], len(batches)):
                elapsed = time.perf_counter() - t0
                p = st["step"] / total
                if cfg.time_budget:
                    p = max(p, elapsed / (cfg.time_budget * 60))
                if self.on_progress:
                    self.on_progress(min(1.0, p))
                for g in self.opt.param_groups:
                    g["lr"] = cfg.lr * lr_factor(p, cfg.schedule, cfg.warmup, cfg.min_lr_ratio,
                                                 st["step"] // steps_per_epoch, cfg.gamma)
                batch = _to(batches[i], self.device)
                with autocast(self.device, precision):
                    loss, ntok = self.loss_fn(self.model, batch)
                if not torch.isfinite(loss):
                    raise UserError(f"training diverged: the loss became {loss.item()} at step {st['step'] + 1}; lower --lr (now {cfg.lr}) or use --precision fp32")
                loss.backward()
                if cfg.clip:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip)
                self.opt.step()
                self.opt.zero_grad(set_to_none=True)
                if self.ema is not None:
                    self.ema.update_parameters(self.model)
                st["step"] += 1
                st["step_in_epoch"] = i + 1
                st["tokens"] += int(ntok)
                window_tokens += int(ntok)
                run_loss += loss.item()
                run_n += 1
                if self.on_step:
                    self.on_step(st["step"])
                if self.on_progress:  # the progress after this step, as evaluation sees it (no clock reading here)
                    self.on_progress(min(1.0, st["step"] / total))
                end_of_epoch = i + 1 == len(batches)
                over_time = bool(cfg.time_budget) and time.perf_counter() - t0 >= cfg.time_budget * 60
                at_max = st["step"] >= total
                if bar:
                    now = time.perf_counter()
                    bar.update(1)
                    bar.set_postfix_str(f"loss {loss.item():.4f} {cfg.metric} {last_metrics.get(cfg.metric, float('nan')):.4f} "
                                        f"{window_tokens / max(1e-9, now - window_t):,.0f} tok/s", refresh=False)
                if st["step"] % eval_every == 0 or end_of_epoch or over_time or at_max:
                    if end_of_epoch:
                        st["epoch"], st["step_in_epoch"] = epoch + 1, 0
                    st["elapsed"] = time.perf_counter() - t0
                    t_eval = time.perf_counter()
                    last_metrics = self._evaluate(precision)
                    value = last_metrics[cfg.metric]
                    record = {"step": st["step"], "epoch": round(st["step"] / steps_per_epoch, 3), "train_loss": run_loss / max(1, run_n),
                              "lr": self.opt.param_groups[0]["lr"], "elapsed_s": round(st["elapsed"], 2),
                              "tokens_per_s": round(st["tokens"] / max(1e-9, st["elapsed"] - st["eval_s"]), 1), **last_metrics}
                    run_loss, run_n = 0.0, 0
                    self.run.append_jsonl("metrics.jsonl", record)
                    if bar:
                        bar.write(f"step {st['step']} epoch {record['epoch']:.2f} train_loss {record['train_loss']:.4f} "
                                  + " ".join(f"{k} {v:.4f}" for k, v in last_metrics.items() if isinstance(v, float)))
                    if self._better(value, st["best"]):
                        st["best"], st["best_step"], st["bad"] = value, st["step"], 0
                        self.run.save_weights("model.safetensors", self._kept.state_dict())
                        self.run.write_json("best_metrics.json", {"step": st["step"], **last_metrics})
                    else:
                        st["bad"] += 1
                    self._checkpoint(st)
                    if cfg.patience and st["bad"] >= cfg.patience:
                        stop_reason = "early_stop"
                    elif over_time:
                        stop_reason = "time_budget"
                    elif at_max:
                        stop_reason = "max_steps" if cfg.max_steps and st["step"] >= cfg.max_steps else "epochs"
                    st["eval_s"] += time.perf_counter() - t_eval
                    window_tokens, window_t = 0, time.perf_counter()
                    if stop_reason:
                        break
            epoch += 1
        if bar:
            bar.close()
        stop_reason = stop_reason or "epochs"
        wall = time.perf_counter() - t0
        summary = {"stop_reason": stop_reason, "best_step": st["best_step"], f"best_{cfg.metric}": st["best"],
                   "steps": st["step"], "epochs_done": round(st["step"] / steps_per_epoch, 3), "wall_s": round(wall, 2),
                   "eval_s": round(st["eval_s"], 2),
                   "tokens_per_s": round(st["tokens"] / max(1e-9, wall - st["eval_s"]), 1), "precision": precision,
                   "precision_probe_ms": st["precision_probe"], "device": str(self.device)}
        self.run.write_json("summary.json", summary)
        try:
            from ..plots import training_curves

            training_curves(self.run.file("metrics.jsonl"), self.run.file("curves.png"), cfg.metric)
        except Exception as e:  # noqa: BLE001 - a plot must never lose a finished run
            log.warning("could not draw curves.png: %s", e)
        return summary

    def _checkpoint(self, st):
        self.run.save_weights("last.safetensors", self.model.state_dict())
        if self.ema is not None:
            self.run.save_weights("ema.safetensors", self.ema.state_dict())
        self.run.save_state({**st, "optimizer": self.opt.state_dict(), "torch_rng": torch.get_rng_state(),
                             "py_rng": random.getstate(), "np_rng": np.random.get_state()})

    def _restore(self) -> dict:
        state = self.run.load_state()
        self.model.load_state_dict({k: v.to(self.device) for k, v in self.run.load_weights("last.safetensors").items()})
        if self.ema is not None:
            self.ema.load_state_dict({k: v.to(self.device) for k, v in self.run.load_weights("ema.safetensors").items()})
        self.opt.load_state_dict(state.pop("optimizer"))
        torch.set_rng_state(state.pop("torch_rng"))
        random.setstate(state.pop("py_rng"))
        np.random.set_state(state.pop("np_rng"))
        return state
