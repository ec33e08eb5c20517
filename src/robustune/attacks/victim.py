"""The model under attack: anything that maps texts to class probabilities.

``load_victim`` accepts a robustune model directory, any Hugging Face sequence-classification model
(a local directory or a hub id), or a Python callable ``texts -> (N, K) probabilities``. A
:class:`Victim` counts the texts it scores (queries), the batches it runs (forwards) and the
seconds spent inside them, so that a benchmark can tell the model's cost from the search's.

**The fast path.** A model loaded here runs the search in bf16 (``torch.autocast``) where the
hardware computes bf16 natively (``precision="auto"``: a GPU that supports it, or a CPU with
AVX512-BF16 or AMX-BF16) on a bf16 copy of the model, and keeps its exact fp32 forward as
:meth:`Victim.exact`: the search
asks the fp32 model before it believes a label flip (``Goal.confirm``), so the verdicts and
adversarial texts an attack reports are the fp32 model's. ``precision="fp32"`` searches in fp32
(``exact`` is then the search's own forward). A callable victim has no fast path: it is its own
exact model. The texts of a call are sorted by length before they are cut into batches of
``batch_size``, so a batch pads its texts to a similar length (the order of the result is the
caller's).

**Compiling the fast path** (``compile=True``, ``robustune attack --compile``): the bf16 copy's encoder
is compiled by ``torch.compile`` (inductor, dynamic shapes, frozen weights: oneDNN's prepacked bf16
matmuls with the bias, GELU and layer norm fused around them) with the eager attention kernels, which
inductor fuses and which at an attack's 20-40 tokens are several times faster than PyTorch's CPU flash
attention. It needs a C++ compiler and costs compilation at the first forward (about 25 s for MiniLM on
2 CPU cores; inductor caches its kernels on disk for the next run), so it pays on long attacks
(hundreds of examples, a smoothed model's N forwards per query), not on short ones: 1.2-1.7x faster bf16
forwards at 32-128 texts per forward (bench/forward_batch.py). Off by default.

``forwards_per_query`` is what one scored text costs the model in encoder forwards: 1, or N for a
smoothed model that votes over N random variants of each text (ranmask, safer).
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import RobustuneError

ProbabilityFn = Callable[[list[str]], "np.ndarray"]
PRECISIONS = ("auto", "bf16", "fp32")


class Victim:
    """``victim(texts) -> (N, K)`` probabilities, batched ``batch_size`` texts per model forward.

    ``exact_proba``: the exact (fp32) model where ``predict_proba`` is a faster approximation of it
    (bf16); None when ``predict_proba`` is exact. ``precision`` names what ``predict_proba`` computes in.
    """

    def __init__(self, predict_proba: ProbabilityFn, label_names: Sequence[str], batch_size: int = 128,
                 exact_proba: ProbabilityFn | None = None, precision: str = "fp32",
                 forwards_per_query: int = 1, compiled: bool = False):
        self.predict_proba = predict_proba
        self.exact_proba = exact_proba
        self.precision = precision
        self.compiled = compiled  # whether predict_proba runs a torch.compile'd model
        self.forwards_per_query = forwards_per_query
        self.label_names = list(label_names)
        self.batch_size = batch_size
        self.queries = 0  # texts scored, by either forward
        self.forwards = 0
        self.seconds = 0.0  # wall time inside the model's forwards

    @property
    def has_fast_path(self) -> bool:
        return self.exact_proba is not None

    def __call__(self, texts: list[str]) -> np.ndarray:
        return self._score(self.predict_proba, texts)

    def exact(self, texts: list[str]) -> np.ndarray:
        """(N, K) probabilities of the exact (fp32) model: the search's verdicts are checked with these."""
        if self.exact_proba is None:
            return self(texts)
        return self._score(self.exact_proba, texts)

    def _score(self, fn: ProbabilityFn, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.label_names)), np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths share a batch
        for start in range(0, len(texts), self.batch_size):
            idx = order[start:start + self.batch_size]
            began = time.perf_counter()
            probs = np.asarray(fn([texts[i] for i in idx]), dtype=np.float32)  # (b, K)
            self.seconds += time.perf_counter() - began
            if probs.shape != (len(idx), len(self.label_names)):
                raise RobustuneError(f"the victim returned shape {probs.shape} for {len(idx)} texts; "
                                     f"expected ({len(idx)}, {len(self.label_names)})")
            out[idx] = probs
            self.forwards += 1
        self.queries += len(texts)
        return out


def native_bf16(device) -> bool:
    """Whether ``device`` computes bf16 matmuls natively (a bf16-capable GPU; a CPU with AVX512-BF16/AMX-BF16)."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    try:  # Linux reports the instruction sets in /proc/cpuinfo; elsewhere assume none
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device) -> str:
    """``auto`` -> ``bf16`` where the device has native bf16, else ``fp32``."""
    if precision not in PRECISIONS:
        raise RobustuneError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


def torch_victim(predict: Callable, model, label_names, batch_size: int = 128, precision: str = "auto",
                 forwards_per_query: int = 1, compile: bool = False) -> Victim:
    """A Victim of a torch ``model``: ``predict(model, texts) -> (N, K)`` in fp32, and where
    ``precision`` asks for it a fast path that runs ``predict`` on a bf16 copy of the model under
    autocast (the copy's weights are cast once: autocast alone casts every weight at every forward,
    which costs more than the matmuls on the small batches of an attack). ``compile``: the fast path's
    copy is compiled (:func:`compile_encoder`; the model's ``encoder`` where it has one, else the whole
    model); with ``precision="fp32"`` the search's fp32 model is compiled, and the exact forward stays eager."""
    import copy

    import torch

    device = next(model.parameters()).device
    precision = resolve_precision(precision, device)
    exact = lambda texts: predict(model, texts)  # noqa: E731
    if precision == "fp32" and not compile:
        return Victim(exact, label_names, batch_size, forwards_per_query=forwards_per_query)
    fast_model = copy.deepcopy(model).to(torch.bfloat16 if precision == "bf16" else torch.float32)
    contexts = []  # entered around every fast forward
    if precision == "bf16":
        contexts.append(lambda: torch.autocast(device.type, dtype=torch.bfloat16))
    if compile:
        fast_model = compile_encoder(fast_model)
        contexts.append(_inference_compile_settings)

    def fast(texts: list[str]) -> np.ndarray:
        with contextlib.ExitStack() as stack:
            for context in contexts:
                stack.enter_context(context())
            return predict(fast_model, texts)

    return Victim(fast, label_names, batch_size, exact_proba=exact, precision=precision,
                  forwards_per_query=forwards_per_query, compiled=compile)


def compile_encoder(model):
    """``model`` with its ``encoder`` (or, without one, itself) compiled for inference by ``torch.compile``
    (dynamic shapes) with eager attention; the compilation itself happens at the first forward.
    Raises a RobustuneError where no C++ compiler is found (inductor needs one on CPU)."""
    import torch

    try:
        from torch._inductor.cpp_builder import get_cpp_compiler

        get_cpp_compiler()
    except Exception as err:  # noqa: BLE001 -- inductor's error names the compilers it looked for
        raise RobustuneError(f"compiling the victim needs a C++ compiler (g++ or clang++ on PATH): {err}") from None
    target = getattr(model, "encoder", model)
    if hasattr(target, "set_attn_implementation"):
        # Inductor fuses the eager attention's matmul-softmax-matmul; the CPU flash kernel it would otherwise
        # call is tuned for long sequences and costs several times more at an attack's 20-40 tokens.
        target.set_attn_implementation("eager")
    compiled = torch.compile(target, dynamic=True)
    if target is model:
        return compiled
    model.encoder = compiled
    return model


def _inference_compile_settings():
    """Inductor settings for an inference-only model: frozen weights (constant-folded and prepacked)."""
    import torch._inductor.config as inductor

    return inductor.patch(freezing=True)


def _hf_sequence_classifier(source: str, batch_size: int, precision: str, compile: bool) -> Victim:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForSequenceClassification.from_pretrained(source).eval()
    except (OSError, ValueError) as err:
        raise RobustuneError(f"cannot load {source!r} as a sequence-classification model: "
                             f"{str(err).splitlines()[0]}") from None
    config = model.config
    names = [config.id2label.get(i, str(i)) for i in range(config.num_labels)]

    @torch.inference_mode()
    def predict_proba(net, texts: list[str]) -> np.ndarray:
        batch = tokenizer(texts, truncation=True, padding=True, return_tensors="pt")
        return torch.softmax(net(**batch).logits.float(), dim=-1).numpy()

    return torch_victim(predict_proba, model, names, batch_size, precision, compile=compile)


def load_victim(model, label_names: Sequence[str] | None = None, batch_size: int = 128,
                precision: str = "auto", compile: bool = False) -> Victim:
    """A :class:`Victim` from a robustune model dir, an HF model dir/id, a RobustClassifier or a callable.

    ``precision``: ``auto`` (bf16 search with fp32 verification where the hardware has native bf16),
    ``bf16`` or ``fp32``; ``compile``: compile the search's model (see the module docstring); a
    callable victim is used as it is.
    """
    from ..modeling import RobustClassifier

    if isinstance(model, Victim):
        return model
    if isinstance(model, RobustClassifier):
        return torch_victim(lambda net, texts: net.predict_proba(texts, batch_size=batch_size), model,
                            model.label_names, batch_size, precision, forwards_per_query=model.forwards_per_text,
                            compile=compile)
    if callable(model):
        if label_names is None:
            raise RobustuneError("a function victim needs label_names")
        if compile:
            raise RobustuneError("compile applies to a torch model; a function victim is used as it is")
        return Victim(model, label_names, batch_size)
    source = str(model)
    config = Path(source) / "config.json"
    if config.is_file() and "robustune" in json.loads(config.read_text()):
        return load_victim(RobustClassifier.from_pretrained(source), batch_size=batch_size, precision=precision,
                           compile=compile)
    if Path(source).exists() and not config.is_file():
        raise RobustuneError(f"{source}: not a model directory (no config.json)")
    return _hf_sequence_classifier(source, batch_size, precision, compile)
