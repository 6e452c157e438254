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

Launched by torchrun (``torchrun --nproc_per_node N -m seqlab train ...``), the same loop trains one
model on N processes with DistributedDataParallel: each rank takes its rows of every global batch,
rank 0 evaluates, decides and writes, and the others follow its decisions (see ``distributed.py``).
On CUDA the hot path never waits for the GPU: losses are summed on the device and checked every few
steps; fp16 trains through a gradient scaler.
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

from .. import allocator
from ..cpu import choose_threads
from ..device import autocast, resolve_precision
from ..errors import UserError
from ..run import RunDir
from . import distributed
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
    ema: float = 0.0  # exponential moving average of the weights (Polyak averaging): 0 = off, else the decay per step (see ema_decay)
                      # (0.999 averages about the last 1,000 steps); evaluation, the best checkpoint and the run use the average
    patience: int = 3  # evaluations without improvement before stopping early (0 = never)
    eval_every: int = 0  # steps between evaluations (0 = once per epoch)
    time_budget: float = 0.0  # minutes of training before stopping cleanly (0 = no limit)
    max_steps: int = 0  # stop after this many optimizer steps (0 = no limit)
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 (auto measures fp32 vs bf16 on the first batch)
    device: str = "auto"  # auto | cpu | cuda
    threads: int = 0  # CPU threads (0 = PyTorch's default, lowered to the cores other processes leave free; see seqlab.cpu)
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
        if self.threads < 0:
            raise ValueError(f"threads must be ≥ 0 (0 = auto); found {self.threads}")
        if self.time_budget < 0 or self.max_steps < 0 or self.patience < 0 or self.clip < 0:
            raise ValueError("time_budget, max_steps, patience and clip must be ≥ 0")
        if self.mode not in ("max", "min"):
            raise ValueError(f"mode must be max or min; found {self.mode!r}")


def _to(batch, device):
    return {k: (_move(v, device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


def _move(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    if device.type == "cuda" and t.device.type == "cpu":  # page-locked, so the copy runs asynchronously
        t = t.pin_memory()
    return t.to(device, non_blocking=True)


class _LossMeter:
    """The sum of the step losses since the last evaluation, and the divergence check.

    On the CPU each loss is read and checked as it comes. On CUDA reading a loss would make the host
    wait for the GPU every step, so losses are summed on the device and the sum is checked every
    ``every`` steps (a divergence is then reported for that window of steps).
    """

    def __init__(self, device: torch.device, lr: float, step: int = 0, every: int = 32):
        self.device, self.lazy, self.lr, self.every = device, device.type == "cuda", lr, every
        self.reset(step)

    def reset(self, step: int) -> None:
        self.sum, self.n, self.checked = (torch.zeros((), dtype=torch.float64, device=self.device) if self.lazy else 0.0), 0, step

    def add(self, loss: torch.Tensor, step: int) -> None:
        """``loss`` of optimizer step ``step`` (1-based), before its backward."""
        if self.lazy:
            self.sum += loss.detach().double()
            if step % self.every == 0:
                self.check(step)
        else:
            if not torch.isfinite(loss):
                raise UserError(f"training diverged: the loss became {loss.item()} at step {step}; {self._advice()}")
            self.sum += loss.item()
        self.n += 1

    def check(self, step: int) -> None:
        if self.lazy and not torch.isfinite(self.sum).item():
            raise UserError(f"training diverged: the loss became {self.sum.item()} between steps {self.checked + 1} "
                            f"and {step}; {self._advice()}")
        self.checked = step

    def total(self, step: int) -> float:
        self.check(step)
        return self.sum.item() if self.lazy else self.sum

    def _advice(self) -> str:
        return f"lower --lr (now {self.lr}) or use --precision fp32"


def _param_groups(model, weight_decay):
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.dim() >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _adamw(model: torch.nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW over ``_param_groups``; PyTorch's fused kernel on CPU and CUDA (one pass over each tensor
    instead of a dozen: 5x faster than the per-tensor loop on a 132-tensor, 8M-parameter Transformer on
    two cores; the same update to float rounding), its default elsewhere. Every step bumps the parameters'
    version counters, as the loop's in-place ops do."""
    groups = _param_groups(model, cfg.weight_decay)
    params = [p for g in groups for p in g["params"]]
    fused = device.type in ("cpu", "cuda") and all(p.is_floating_point() and p.device.type == device.type for p in params)
    opt = torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.98), fused=fused or None)
    if fused:  # the fused kernel writes the parameters without bumping their version counters, which caches of
        # weights derived from them (models/transformer_step.bind) rely on to see a change: bump them after each step
        opt.register_step_post_hook(lambda *_: torch.autograd.graph.increment_version(params))
    return opt


def ema_decay(decay: float, n: int) -> float:
    """The decay of the weights' moving average at its ``n``-th update after the first (which copies the
    weights): ``min(decay, (1 + n) / (10 + n))``, the warmup of TensorFlow's ExponentialMovingAverage. Without
    it a 0.999 average still held 64% of the first step's weights after 450 steps (Multi30k's second epoch
    validated at 0.5 BLEU against 17.5 for the raw weights); with it the average spans about the last tenth of
    the steps so far until that reaches ``1 / (1 - decay)`` steps (0.999: 9,000 updates)."""
    return min(decay, (1.0 + n) / (10.0 + n))


def _ema_update(decay: float):
    """``multi_avg_fn`` for AveragedModel: torch's own EMA update at the decay :func:`ema_decay` gives for the
    update's count."""
    from torch.optim.swa_utils import get_ema_multi_avg_fn

    def update(avg: list, cur: list, num_averaged) -> None:  # AveragedModel reads the count on the host anyway
        get_ema_multi_avg_fn(ema_decay(decay, int(num_averaged)))(avg, cur, num_averaged)

    return update


class Trainer:
    def __init__(self, model: torch.nn.Module, cfg: TrainConfig, run: RunDir,
                 loss_fn: Callable, eval_fn: Callable, train_batches: Callable[[int], list],
                 device: torch.device, verbose: bool = False, on_step: Callable[[int], None] | None = None,
                 on_progress: Callable[[float], None] | None = None, mean_over: str = "rows"):
        """``mean_over``: what ``loss_fn``'s mean is over, so several processes weight their shards to the
        whole batch's mean: ``rows`` (classify, lm, forecast) or ``count``, the n it returns (token means:
        seq2seq, mlm; one small all-reduce per step). One process ignores it."""
        if mean_over not in ("rows", "count"):
            raise ValueError(f"mean_over must be rows or count; found {mean_over!r}")
        self.model, self.cfg, self.run = model.to(device), cfg, run
        self.loss_fn, self.eval_fn, self.train_batches = loss_fn, eval_fn, train_batches
        self.device, self.verbose, self.on_step = device, verbose and distributed.is_main(), on_step
        self.rank, self.world, self.mean_over = distributed.rank(), distributed.world_size(), mean_over
        self.forward = distributed.loss_forward(self.model, loss_fn, device)  # batch -> (loss, n); DDP when world > 1
        self.scaler = None  # torch.amp.GradScaler for fp16 on CUDA, made once the precision is known
        self.on_progress = on_progress  # told the progress in [0, 1] (steps or time, whichever is further) before each step
        self.opt = _adamw(self.model, cfg, device)
        self.ema = None
        if cfg.ema:
            from torch.optim.swa_utils import AveragedModel

            self.ema = AveragedModel(self.model, multi_avg_fn=_ema_update(cfg.ema), use_buffers=True)

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
        if self.device.type == "cpu":
            choose_threads(cfg.threads)
        if st["precision"] is None:  # measured on rank 0, so every rank trains in the same precision
            first, _ = self._local(self.train_batches(0)[0])
            st["precision"], st["precision_probe"] = distributed.on_main(
                lambda: resolve_precision(cfg.precision, self.device, self.model, self.loss_fn, first,
                                          budget_s=cfg.time_budget * 60))
        precision = st["precision"]
        if precision == "fp16" and self.device.type == "cuda":
            self.scaler = torch.amp.GradScaler("cuda")
        stop_reason = None
        t0 = time.perf_counter() - st["elapsed"]
        meter = _LossMeter(self.device, cfg.lr, st["step"])
        new_tokens, window_tokens, window_t = 0, 0, time.perf_counter()
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
                    p = max(p, distributed.main_value(elapsed) / (cfg.time_budget * 60))
                if self.on_progress:
                    self.on_progress(min(1.0, p))
                for g in self.opt.param_groups:
                    g["lr"] = cfg.lr * lr_factor(p, cfg.schedule, cfg.warmup, cfg.min_lr_ratio,
                                                 st["step"] // steps_per_epoch, cfg.gamma)
                batch, weight = self._local(batches[i])
                distributed.reseed(cfg.seed, st["step"])
                with autocast(self.device, precision):
                    loss, ntok = self.forward(batch)
                if self.world > 1 and self.mean_over == "count":
                    weight = distributed.count_weight(ntok if weight else 0)
                if weight != 1.0:  # this rank's share of the global batch (several processes only)
                    loss = loss * weight
                meter.add(loss, st["step"] + 1)
                self._update(loss)
                if self.ema is not None:
                    self.ema.update_parameters(self.model)
                st["step"] += 1
                st["step_in_epoch"] = i + 1
                ntok = ntok if isinstance(ntok, torch.Tensor) else int(ntok)  # a count on the GPU is read at evaluation
                new_tokens += ntok
                window_tokens += ntok
                if self.on_step:
                    self.on_step(st["step"])
                if self.on_progress:  # the progress after this step, as evaluation sees it (no clock reading here)
                    self.on_progress(min(1.0, st["step"] / total))
                end_of_epoch = i + 1 == len(batches)
                over_time = bool(cfg.time_budget) and distributed.main_value(time.perf_counter() - t0) >= cfg.time_budget * 60
                at_max = st["step"] >= total
                if bar:
                    now = time.perf_counter()
                    bar.update(1)
                    if not meter.lazy or st["step"] % meter.every == 0:  # reading the loss waits for the GPU
                        bar.set_postfix_str(f"loss {loss.item():.4f} {cfg.metric} {last_metrics.get(cfg.metric, float('nan')):.4f} "
                                            f"{window_tokens * self.world / max(1e-9, now - window_t):,.0f} tok/s", refresh=False)
                if st["step"] % eval_every == 0 or end_of_epoch or over_time or at_max:
                    if end_of_epoch:
                        st["epoch"], st["step_in_epoch"] = epoch + 1, 0
                    st["elapsed"] = time.perf_counter() - t0
                    t_eval = time.perf_counter()
                    loss_sum, tokens = distributed.all_sum([meter.total(st["step"]), int(new_tokens)])
                    st["tokens"] += int(tokens)
                    last_metrics = distributed.on_main(lambda: self._evaluate(precision))
                    value = last_metrics[cfg.metric]
                    record = {"step": st["step"], "epoch": round(st["step"] / steps_per_epoch, 3),
                              "train_loss": loss_sum / (self.world * max(1, meter.n)),
                              "lr": self.opt.param_groups[0]["lr"], "elapsed_s": round(st["elapsed"], 2),
                              "tokens_per_s": round(st["tokens"] / max(1e-9, st["elapsed"] - st["eval_s"]), 1), **last_metrics}
                    meter.reset(st["step"])
                    new_tokens = 0
                    improved = self._better(value, st["best"])
                    if improved:
                        st["best"], st["best_step"], st["bad"] = value, st["step"], 0
                    else:
                        st["bad"] += 1
                    if distributed.is_main():
                        self._save(st, record, last_metrics, improved, bar)
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
                   "precision_probe_ms": st["precision_probe"], "device": str(self.device),
                   "allocator": allocator.in_use(), **distributed.describe(self.device)}
        return distributed.on_main(lambda: self._finish(summary))  # rank 0's summary, once it is written

    def _local(self, batch: dict) -> tuple[dict, float]:
        """This rank's rows of a global batch, on the device, and their loss weight (1.0 in one process)."""
        part, weight = distributed.shard(batch, self.rank, self.world)
        return _to(part, self.device), weight

    def _update(self, loss: torch.Tensor) -> None:
        """Backward (DDP averages the gradients over the ranks as it goes), clipping, the optimizer step."""
        if self.scaler is None:
            loss.backward()
            if self.cfg.clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip)
            self.opt.step()
        else:  # fp16: scale the loss so small gradients survive, unscale before clipping
            self.scaler.scale(loss).backward()
            if self.cfg.clip:
                self.scaler.unscale_(self.opt)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip)
            self.scaler.step(self.opt)
            self.scaler.update()
        self.opt.zero_grad(set_to_none=True)

    def _save(self, st: dict, record: dict, metrics: dict, improved: bool, bar) -> None:
        """Rank 0's writes after an evaluation: the metrics line, the best weights, the checkpoint."""
        self.run.append_jsonl("metrics.jsonl", record)
        if bar:
            bar.write(f"step {st['step']} epoch {record['epoch']:.2f} train_loss {record['train_loss']:.4f} "
                      + " ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float)),
                      file=sys.stderr)  # tqdm.write defaults to stdout, which --json keeps for JSON
        if improved:
            self.run.save_weights("model.safetensors", self._kept.state_dict())
            self.run.write_json("best_metrics.json", {"step": st["step"], **metrics})
        self._checkpoint(st)

    def _finish(self, summary: dict) -> dict:
        self.run.write_json("summary.json", summary)
        try:
            from ..plots import training_curves

            training_curves(self.run.file("metrics.jsonl"), self.run.file("curves.png"), self.cfg.metric)
        except Exception as e:  # noqa: BLE001 - a plot must never lose a finished run
            log.warning("could not draw curves.png: %s", e)
        return summary

    def _checkpoint(self, st):
        """One atomic write holds everything --resume needs (weights, average, optimizer, counters, generators):
        a kill between two files of a checkpoint could otherwise pair one step's weights with another's state."""
        self.run.save_state({**st, "model": self.model.state_dict(),
                             "ema": self.ema.state_dict() if self.ema is not None else None,
                             "optimizer": self.opt.state_dict(), "torch_rng": torch.get_rng_state(),
                             "py_rng": random.getstate(), "np_rng": np.random.get_state()})

    def _restore(self) -> dict:
        """The last complete checkpoint; metrics lines written after it (a kill inside the next checkpoint) are
        dropped, since the resumed run writes them again."""
        state = self.run.load_state()
        weights = state.pop("model", None)
        ema = state.pop("ema", None)
        if weights is None:  # a run written before the weights moved into the state file
            weights = self.run.load_weights("last.safetensors")
            ema = self.run.load_weights("ema.safetensors") if self.ema is not None else None
        self.model.load_state_dict({k: v.to(self.device) for k, v in weights.items()})
        if self.ema is not None:
            self.ema.load_state_dict({k: v.to(self.device) for k, v in ema.items()})
        self.opt.load_state_dict(state.pop("optimizer"))
        torch.set_rng_state(state.pop("torch_rng"))
        random.setstate(state.pop("py_rng"))
        np.random.set_state(state.pop("np_rng"))
        self.run.truncate_jsonl("metrics.jsonl", lambda rec: rec.get("step", 0) <= state["step"])
        return state
