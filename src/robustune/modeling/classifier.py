"""RobustClassifier: a pre-trained encoder, a pooling and a classification head, in HF layout.

A model directory holds ``model.safetensors`` (the encoder's weights under the encoder's own
``base_model_prefix``, e.g. ``bert.``, so ``AutoModel.from_pretrained(dir)`` also loads them, plus
``head.*``), ``config.json`` (the encoder's config with ``id2label`` and a ``robustune`` section) and
the tokenizer files. Nothing is pickled, and loading never needs the network.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from ..atomic import save_folder
from ..errors import RobustuneError
from .head import ClassificationHead, HeadSpec
from .pooling import POOLINGS, pool
from .smoothing import TENSOR_PREFIX as SMOOTHING_PREFIX, smoothing_from_dict

WEIGHTS_NAME = "model.safetensors"


@dataclass
class ModelSettings:
    """What a saved model needs besides its weights; stored under ``robustune`` in config.json."""

    label_names: list[str]
    pooling: str = "mean"
    max_length: int = 128
    head: HeadSpec = field(default_factory=HeadSpec)
    method: str = "vanilla"
    method_params: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)  # how it was trained: data, sampling, seed, schedule
    encoder_kwargs: dict = field(default_factory=dict)
    knn: dict | None = None  # KNNSettings of the datastore saved with the model, if any
    smoothing: dict | None = None  # prediction by a vote over random variants of the input (smoothing.py)

    def __post_init__(self) -> None:
        if isinstance(self.head, dict):
            self.head = HeadSpec(**self.head)
        if self.pooling not in POOLINGS:
            raise RobustuneError(f"unknown pooling {self.pooling!r}; choose one of {POOLINGS}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _load_encoder(source: str):
    """AutoModel without the pooler where the architecture allows it (robustune pools itself).

    Returns the encoder and the keyword arguments that built it, which are saved so that loading
    rebuilds the same module.
    """
    from transformers import AutoModel

    try:
        return AutoModel.from_pretrained(source, add_pooling_layer=False), {"add_pooling_layer": False}
    except TypeError:  # architectures without a pooler do not take the argument
        return AutoModel.from_pretrained(source), {}


class RobustClassifier(nn.Module):
    """Encoder -> pooling -> head. ``forward`` returns logits; ``predict_proba`` works on raw texts."""

    def __init__(self, encoder: nn.Module, tokenizer, settings: ModelSettings):
        super().__init__()
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.settings = settings
        self.head = ClassificationHead(encoder.config.hidden_size, len(settings.label_names), settings.head)
        # A KNN datastore (knn.KNNDatastore) over the training set, set by a method's finalize or on
        # loading; a plain attribute, not a submodule, so that training checkpoints do not carry it.
        self.knn = None
        # Randomised smoothing (smoothing.MaskVote, smoothing.SubstitutionVote), set by a method's finalize
        # or from the saved config: when set, predictions are its vote over random variants of each input.
        self.smoothing = None

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def from_encoder(cls, encoder_name_or_path: str, settings: ModelSettings, seed: int = 0) -> "RobustClassifier":
        """A new classifier on a pre-trained encoder; the head is initialised from ``seed``."""
        from transformers import AutoTokenizer
        from transformers.utils import logging as hf_logging

        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # "pooler weights not used" is expected, not news
        try:
            tokenizer = AutoTokenizer.from_pretrained(encoder_name_or_path)
            encoder, extra = _load_encoder(encoder_name_or_path)
        except OSError as err:
            raise RobustuneError(f"cannot load encoder {encoder_name_or_path!r}: {str(err).splitlines()[0]}") from None
        finally:
            hf_logging.set_verbosity(verbosity)
        settings.encoder_kwargs = extra
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return cls(encoder, tokenizer, settings)

    @property
    def label_names(self) -> list[str]:
        return list(self.settings.label_names)

    @property
    def num_labels(self) -> int:
        return len(self.settings.label_names)

    # ---- computation --------------------------------------------------------------------------
    def encode(self, input_ids=None, attention_mask=None, token_type_ids=None, inputs_embeds=None) -> torch.Tensor:
        """Pooled sentence vectors, (B, D)."""
        kwargs = {"attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        if inputs_embeds is not None:
            kwargs["inputs_embeds"] = inputs_embeds
        else:
            kwargs["input_ids"] = input_ids
        hidden = self.encoder(**kwargs).last_hidden_state  # (B, T, D)
        return pool(hidden, attention_mask, self.settings.pooling)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, inputs_embeds=None) -> torch.Tensor:
        """Logits, (B, K)."""
        return self.head(self.encode(input_ids, attention_mask, token_type_ids, inputs_embeds))

    @property
    def prediction_component(self) -> str:
        """The name, in :meth:`component_probabilities`, of the predictor whose answer is the model's."""
        return "smoothed" if self.smoothing is not None else "combined" if self.knn is not None else "linear"

    @property
    def forwards_per_text(self) -> int:
        """Encoder forwards one prediction costs: 1, or the vote's N for a smoothed model."""
        return 1 if self.smoothing is None else self.smoothing.forwards_per_text

    def component_probabilities(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each predictor's class probabilities, (B, K): ``linear`` (the head), plus ``knn`` and their
        mixture ``combined`` when the model holds a KNN datastore, plus the vote ``smoothed`` (the model's
        prediction) when it is smoothed; ``linear`` is then the base classifier on the unmasked input."""
        pooled = self.encode(**batch)  # (B, D)
        parts = {"linear": torch.softmax(self.head(pooled).float(), dim=-1)}
        if self.knn is not None:
            parts["knn"] = self.knn.vote(pooled)
            parts["combined"] = self.knn.combine(parts["linear"], parts["knn"])
        if self.smoothing is not None:
            parts["smoothed"] = self._smoothed(batch)
        return parts

    def base_probabilities(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The unsmoothed class probabilities, (B, K) (the KNN mixture when there is a datastore)."""
        if self.knn is None:
            return torch.softmax(self(**batch).float(), dim=-1)
        pooled = self.encode(**batch)  # (B, D)
        return self.knn.combine(torch.softmax(self.head(pooled).float(), dim=-1), self.knn.vote(pooled))

    def probabilities(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Class probabilities of a tokenized batch, (B, K): the vote shares of a smoothed model, else
        :meth:`base_probabilities`."""
        if self.smoothing is not None:
            return self._smoothed(batch)
        return self.base_probabilities(batch)

    def _smoothed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.smoothing.probabilities(batch, self)

    def configure_smoothing(self, **overrides) -> None:
        """Override the saved vote's settings (``samples``, ``seed``, a mask vote's ``mask_rate``, a
        substitution vote's ``keep``; None keeps one)."""
        if self.smoothing is None:
            raise RobustuneError("the model is not smoothed; vote settings do not apply")
        saved = self.smoothing.to_dict()
        foreign = sorted(k for k, v in overrides.items() if v is not None and k not in saved)
        if foreign:
            raise RobustuneError(f"a {saved['kind']} has no setting {', '.join(foreign)} "
                                 f"(its settings: {', '.join(k for k in saved if k != 'kind')})")
        values = {**saved, **{k: v for k, v in overrides.items() if v is not None}}
        self.smoothing = smoothing_from_dict(values, "vote settings", self.smoothing.tensors())

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        return self.tokenizer(list(texts), truncation=True, max_length=self.settings.max_length,
                              padding=True, return_tensors="pt")

    @torch.inference_mode()
    def _batched(self, texts: list[str], fn, batch_size: int, progress: bool, desc: str = "predict") -> dict:
        """Runs ``fn(tokenized batch) -> {name: (B, ...) tensor}`` over texts batched by length (for
        speed) and returns {name: (N, ...) array} in the original order."""
        if isinstance(texts, str):
            texts = [texts]
        was_training = self.training
        if was_training:  # eval()/train() walk every module: a cost worth skipping on an attack's small batches
            self.eval()
        device = next(self.parameters()).device
        lengths = [len(t) for t in texts]
        order = sorted(range(len(texts)), key=lengths.__getitem__)
        out: dict[str, np.ndarray] = {}
        starts = range(0, len(texts), batch_size)
        for start in tqdm(starts, desc=desc, unit="batch", disable=not progress):
            idx = order[start:start + batch_size]
            batch = {k: v.to(device) for k, v in self.tokenize([texts[i] for i in idx]).items()}
            for name, value in fn(batch).items():
                if name not in out:
                    out[name] = np.zeros((len(texts), *value.shape[1:]), dtype=np.float32)
                out[name][idx] = value.float().cpu().numpy()
        if was_training:
            self.train()
        return out

    def predict_proba(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """(N, K) class probabilities. Texts are batched by length for speed; the order is kept."""
        if not len(texts):
            return np.zeros((0, self.num_labels), dtype=np.float32)
        return self._batched(texts, lambda b: {"p": self.probabilities(b)}, batch_size, progress)["p"]

    def predict_components(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> dict:
        """{name: (N, K) probabilities} of every predictor (see :meth:`component_probabilities`)."""
        return self._batched(texts, self.component_probabilities, batch_size, progress)

    def encode_texts(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> torch.Tensor:
        """(N, D) pooled sentence vectors of raw texts (eval mode, no gradients)."""
        out = self._batched(texts, lambda b: {"h": self.encode(**b)}, batch_size, progress, desc="encode")
        return torch.from_numpy(out["h"])

    def predict(self, texts: list[str], batch_size: int = 64) -> list[str]:
        """Predicted label names."""
        probs = self.predict_proba(texts, batch_size)
        return [self.settings.label_names[i] for i in probs.argmax(-1)]

    # ---- persistence --------------------------------------------------------------------------
    def extra_tensors(self) -> dict[str, torch.Tensor]:
        """Tensors saved beside the weights: the KNN datastore and the smoothing's tables, when there are."""
        out = self.knn.tensors() if self.knn is not None else {}
        if self.smoothing is not None:
            out.update({SMOOTHING_PREFIX + k: v for k, v in self.smoothing.tensors().items()})
        return out

    def load_extra_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        from ..knn import KNNDatastore
        from ..knn.datastore import TENSOR_PREFIX

        knn = {k: v for k, v in tensors.items() if k.startswith(TENSOR_PREFIX)}
        unexpected = sorted(set(tensors) - set(knn))
        if unexpected:
            raise RobustuneError(f"unexpected tensors in the model file: {unexpected[:5]}")
        if knn:
            self.knn = KNNDatastore.from_tensors(knn, self.num_labels, self.settings.knn or {})

    def _prefix(self) -> str:
        return getattr(self.encoder, "base_model_prefix", "") or "encoder"

    def state_for_saving(self) -> dict[str, torch.Tensor]:
        prefix = self._prefix()
        state = {f"{prefix}.{k}": v for k, v in self.encoder.state_dict().items()}
        state.update({f"head.{k}": v for k, v in self.head.state_dict().items()})
        state.update(self.extra_tensors())
        # safetensors refuses shared storage; a clone per tensor is cheap next to the disk write.
        return {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        """Write the model folder crash-safely: the weights file goes in last (``atomic.save_folder``),
        so a folder killed mid-save holds no weights and is not taken for a model."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = self.encoder.config
        config.id2label = dict(enumerate(self.settings.label_names))
        config.label2id = {n: i for i, n in enumerate(self.settings.label_names)}
        self.settings.knn = dataclasses.asdict(self.knn.settings) if self.knn is not None else None
        self.settings.smoothing = self.smoothing.to_dict() if self.smoothing is not None else None
        config.robustune = self.settings.to_dict()
        state = self.state_for_saving()

        def save(staging: Path) -> None:
            config.save_pretrained(staging)
            self.tokenizer.save_pretrained(staging)
            save_file(state, str(staging / WEIGHTS_NAME), metadata={"format": "pt"})

        save_folder(directory, save, last=WEIGHTS_NAME)

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, device: str | torch.device = "cpu") -> "RobustClassifier":
        """Load a model directory written by :meth:`save_pretrained` (safetensors + JSON only)."""
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        directory = Path(directory)
        if not (directory / WEIGHTS_NAME).is_file() or not (directory / "config.json").is_file():
            raise RobustuneError(f"{directory}: not a robustune model directory (no {WEIGHTS_NAME} / config.json)")
        config = AutoConfig.from_pretrained(directory)
        section = getattr(config, "robustune", None)
        if not isinstance(section, dict):
            raise RobustuneError(f"{directory}: config.json has no 'robustune' section; is this a robustune model?")
        unknown = sorted(set(section) - {f.name for f in dataclasses.fields(ModelSettings)})
        if unknown:
            raise RobustuneError(f"{directory}/config.json: unknown robustune settings {unknown} "
                                 "(written by a newer robustune?)")
        try:
            settings = ModelSettings(**section)
        except (TypeError, ValueError) as err:
            raise RobustuneError(f"{directory}/config.json: bad robustune settings: {err}") from None
        encoder = AutoModel.from_config(config, **settings.encoder_kwargs)
        model = cls(encoder, AutoTokenizer.from_pretrained(directory), settings)
        state = load_file(str(directory / WEIGHTS_NAME))
        prefix = model._prefix() + "."
        enc_state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        head_state = {k[5:]: v for k, v in state.items() if k.startswith("head.")}
        rest = {k: v for k, v in state.items() if not k.startswith(prefix) and not k.startswith("head.")}
        model.encoder.load_state_dict(enc_state)
        model.head.load_state_dict(head_state)
        smoothing = {k[len(SMOOTHING_PREFIX):]: v for k, v in rest.items() if k.startswith(SMOOTHING_PREFIX)}
        model.load_extra_tensors({k: v for k, v in rest.items() if not k.startswith(SMOOTHING_PREFIX)})
        if settings.knn and model.knn is None:
            raise RobustuneError(f"{directory}: config.json describes a KNN datastore that {WEIGHTS_NAME} lacks")
        if settings.smoothing is not None:
            model.smoothing = smoothing_from_dict(settings.smoothing, f"{directory}/config.json", smoothing)
        elif smoothing:
            raise RobustuneError(f"{directory}: {WEIGHTS_NAME} holds smoothing tensors that config.json "
                                 "does not describe")
        return model.to(device).eval()
