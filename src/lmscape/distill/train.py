"""The training loop every student uses: seeded, checkpointed, resumable, with progress.

1. Batches are drawn per epoch from a permutation seeded by (seed, epoch); within
   groups of 50 batches the items are sorted by length (less padding on CPU) and the
   group's batches are shuffled again with the same seed. Step ``s`` therefore always
   sees the same items, whether or not the run was interrupted.
2. AdamW with linear warm-up and linear decay; gradients clipped at 1.0. The word
   embedding matrix is frozen by default (a third of MiniLM's weights: the optimiser
   step is cheaper on a CPU, and a few thousand examples cannot move it usefully).
3. Every ``checkpoint_every`` steps (and at the end) the model, optimiser, schedule,
   step and torch RNG state are written to ``checkpoint.pt`` in the work folder
   (a temporary file, then an atomic rename), tagged with the run's key;
   ``checkpoint.json`` says which step it holds. A killed run
   started again with the same key continues from the last checkpoint and ends with
   the same weights as a run that was never interrupted; a different key starts afresh.
4. CPU by default; CUDA when it is present (``device=None``). With ``LMSCAPE_THREADS``
   set, torch uses that many threads (on a busy machine one thread is several times
   cheaper per step: two threads wait for each other when one is descheduled).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

CHECKPOINT = "checkpoint.pt"


@dataclass(kw_only=True)
class TrainSettings:
    epochs: float = 3.0
    batch_size: int = 32
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_length: int = 128
    seed: int = 7
    device: str | None = None
    checkpoint_every: int = 50
    max_steps: int | None = None  # stop early (tests, quick looks)
    freeze_word_embeddings: bool = True  # a third of MiniLM's weights; faster, no loss seen

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class TrainProgress(Protocol):
    def start(self, what: str, total: int, done: int) -> None: ...
    def advance(self, what: str, n: int) -> None: ...
    def finish(self, what: str) -> None: ...


class NullProgress:
    def start(self, what: str, total: int, done: int) -> None:
        pass

    def advance(self, what: str, n: int) -> None:
        pass

    def finish(self, what: str) -> None:
        pass


def batch_plan(lengths: list[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The batches of one epoch (see step 1 of the module docstring)."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    group = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), group):
        chunk = sorted(order[start:start + group].tolist(), key=lambda i: lengths[i])
        part = [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
        rng.shuffle(part)
        batches.extend(part)
    return batches


def total_steps(n: int, settings: TrainSettings) -> int:
    per_epoch = math.ceil(n / settings.batch_size)
    steps = max(1, round(per_epoch * settings.epochs))
    return min(steps, settings.max_steps) if settings.max_steps else steps


def _step_batches(lengths: list[int], settings: TrainSettings, steps: int):
    """(step, indices) for every step of the run, in order."""
    step, epoch = 0, 0
    while step < steps:
        for batch in batch_plan(lengths, settings.batch_size, settings.seed, epoch):
            if step >= steps:
                return
            yield step, batch
            step += 1
        epoch += 1


def train(model: Any, examples: list[dict[str, Any]], collate: Callable[[list[dict]], dict],
          settings: TrainSettings, work_dir: Path, run_key: str,
          progress: TrainProgress | None = None, what: str = "training") -> dict[str, Any]:
    """Train ``model`` in place on ``examples``; return statistics of the run."""
    import torch

    from lmscape.backends.hf_common import pick_device
    from lmscape.config import default_threads

    if os.environ.get("LMSCAPE_THREADS"):  # asked for explicitly: torch follows it
        torch.set_num_threads(default_threads())
    progress = progress or NullProgress()
    device = pick_device(settings.device)
    model.to(device)
    model.train()
    if settings.freeze_word_embeddings:
        embeddings = model.get_input_embeddings()
        if embeddings is not None:
            embeddings.weight.requires_grad_(False)
    steps = total_steps(len(examples), settings)
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
    groups = [
        {"params": [p for n, p in trainable if not n.endswith(no_decay)],
         "weight_decay": settings.weight_decay},
        {"params": [p for n, p in trainable if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=settings.lr)
    warmup = max(1, int(steps * settings.warmup_ratio))

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (steps - step) / max(1, steps - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / CHECKPOINT
    start_step, losses = 0, []
    if path.exists():
        state = torch.load(path, map_location="cpu", weights_only=False)
        if state.get("run_key") == run_key:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            torch.set_rng_state(state["torch_rng"])
            start_step, losses = int(state["step"]), list(state["losses"])
    resumed_from = start_step
    if start_step == 0:
        torch.manual_seed(settings.seed)

    def save(step: int) -> None:
        tmp = path.with_suffix(".tmp")
        torch.save({"run_key": run_key, "step": step, "losses": losses,
                    "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "torch_rng": torch.get_rng_state()},
                   tmp)
        os.replace(tmp, path)
        marker = path.with_suffix(".json")  # cheap to read: which step the checkpoint holds
        marker.with_suffix(".tmp-json").write_text(json.dumps({"run_key": run_key, "step": step,
                                                               "steps": steps}))
        os.replace(marker.with_suffix(".tmp-json"), marker)

    lengths = [len(e["input_ids"]) for e in examples]
    progress.start(what, steps, start_step)
    started, cpu_started = time.perf_counter(), time.process_time()
    for step, batch_idx in _step_batches(lengths, settings, steps):
        if step < start_step:
            continue
        batch = {k: v.to(device) for k, v in collate([examples[i] for i in batch_idx]).items()}
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for _, p in trainable], 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        progress.advance(what, 1)
        done = step + 1
        if done % settings.checkpoint_every == 0 or done == steps:
            save(done)
    progress.finish(what)
    model.eval()
    return {"steps": steps, "resumed_from_step": resumed_from, "device": device,
            "train_s": time.perf_counter() - started,
            "train_cpu_s": time.process_time() - cpu_started,  # all threads, this run only
            "steps_run": steps - resumed_from, "torch_threads": torch.get_num_threads(),
            "final_loss": float(np.mean(losses[-20:])) if losses else None,
            "n_examples": len(examples)}
