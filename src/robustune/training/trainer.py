"""RobustTrainer: the one training loop, ``transformers.Trainer`` subclassed once.

The model the Trainer sees is a :class:`TrainingModule` — the classifier plus the method's own
state — so checkpoints, resume, mixed precision and distributed training all come from Trainer
unchanged. The loss is the sum of the method's named terms; each term is logged beside ``loss``.

``train_loss`` in the metrics is the mean loss over *the whole run*: Trainer's own covers only the
steps of the current process, so a resumed run reported another figure than an uninterrupted one.
The running sum (float64, added in step order) is stored in each checkpoint's
``trainer_state.json`` (``stateful_callbacks``), so a resumed run ends with the identical figure.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import Trainer, TrainerCallback
from transformers.trainer_utils import TrainOutput
from transformers.utils import logging

logger = logging.get_logger(__name__)

from ..atomic import fault_point
from ..errors import RobustuneError
from ..methods import Method
from ..modeling import RobustClassifier


class TrainingModule(nn.Module):
    """What is optimised: the classifier and the method's state (projection heads, queues, copies)."""

    def __init__(self, classifier: RobustClassifier, method: Method):
        super().__init__()
        self.classifier = classifier
        self.method = method

    def forward(self, **batch: torch.Tensor) -> dict[str, torch.Tensor]:
        terms = self.method(self.classifier, batch)
        if not terms:
            raise RuntimeError(f"method {self.method.name!r} returned no loss terms")
        return {"loss": sum(terms.values()), **terms}


class _AfterStep(TrainerCallback):
    def on_step_end(self, args, state, control, model=None, **kwargs):
        model.method.after_step(model.classifier)


_RUN_LOSS = "robustune_run_loss"  # key in TrainerState.stateful_callbacks


class RobustTrainer(Trainer):
    # compute_loss returns a per-batch mean, so Trainer divides it for gradient accumulation.
    loss_is_scaled_for_ga = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_callback(_AfterStep())
        self.model.method.bind_backward(self._extra_backward)
        self._term_sums: dict[str, torch.Tensor] = {}
        self._term_count = 0
        self._loss_total: torch.Tensor | None = None  # the run's loss sum, from its start (resumes included)
        self._loss_count = 0

    def _run_loss(self) -> dict:
        if self._loss_total is None:  # nothing trained by this process yet: what the checkpoint holds
            return dict(self.state.stateful_callbacks.get(_RUN_LOSS, {"total": 0.0, "count": 0}))
        return {"total": self._loss_total.item(), "count": self._loss_count}

    def train(self, *args, **kwargs) -> TrainOutput:
        output = super().train(*args, **kwargs)
        run = self._run_loss()
        if run["count"]:
            output.metrics["train_loss"] = run["total"] / run["count"]
            output = TrainOutput(output.global_step, output.metrics["train_loss"], output.metrics)
        return output

    def _save_checkpoint(self, model, trial) -> None:
        self.state.stateful_callbacks[_RUN_LOSS] = self._run_loss()
        super()._save_checkpoint(model, trial)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(**inputs)
        loss = outputs.pop("loss")
        if model.training:
            if self._loss_total is None:  # continue the sum of the checkpoint resumed from, if any
                saved = self._run_loss()
                self._loss_total = torch.tensor(saved["total"], dtype=torch.float64, device=loss.device)
                self._loss_count = saved["count"]
            self._loss_total += loss.detach().double()
            self._loss_count += 1
            # Summed as tensors: a .item() per step would force a device sync on GPU.
            for name, value in outputs.items():
                self._term_sums[name] = self._term_sums.get(name, 0) + value.detach().float()
            self._term_count += 1
        return (loss, outputs) if return_outputs else loss

    def _extra_backward(self, loss: torch.Tensor) -> None:
        """A method's extra backward pass inside its forward (freelb), scaled and run as training_step
        runs the final one (``loss_is_scaled_for_ga`` is False: divide by the accumulation steps)."""
        if self.args.world_size > 1 or self.args.n_gpu > 1:
            # DDP's reducer (and DataParallel's replicas) expect one backward per forward.
            raise RobustuneError(f"method {self.model.method.name!r} runs several backward passes per step, "
                                 "which distributed or DataParallel training does not allow; train it on one device")
        self.accelerator.backward(loss / self.current_gradient_accumulation_steps)

    def _issue_warnings_after_load(self, load_result) -> None:
        """Resume: a method's weights tied to the classifier's (the TSDAE decoder's) are left out of
        checkpoints on purpose and come back with the classifier's; any other missing key is news."""
        params = dict(self.model.named_parameters(remove_duplicate=False))
        saved = {id(params[k]) for k in self.model.state_dict() if k in params}
        missing = [k for k in load_result.missing_keys if not (k in params and id(params[k]) in saved)]
        if missing:
            logger.warning(f"keys missing from the checkpoint: {missing}")
        if load_result.unexpected_keys:
            logger.warning(f"unexpected keys in the checkpoint: {load_result.unexpected_keys}")

    # Fault points inside a checkpoint save (weights written, the rest not yet), for the
    # fault-injection tests; see atomic.py. Nothing happens without ROBUSTUNE_FAULT_LOG.
    def _save_optimizer_and_scheduler(self, output_dir: str) -> None:
        fault_point("checkpoint: weights written")
        super()._save_optimizer_and_scheduler(output_dir)

    def _save_rng_state(self, output_dir: str) -> None:
        fault_point("checkpoint: optimizer written")
        super()._save_rng_state(output_dir)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._term_count:
            for name, total in self._term_sums.items():
                # 4 significant digits, not 4 decimals: smart's R_s (paper ε = 1e-5) read 0 at 4 decimals
                logs[name] = float(f"{(total / self._term_count).item():.4g}")
            self._term_sums, self._term_count = {}, 0
        super().log(logs, start_time)
