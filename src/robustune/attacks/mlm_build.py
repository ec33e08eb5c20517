"""Build a small masked LM offline, for BERT-Attack's substitutes where no pre-trained MLM can be had.

Two ways, both saved in Hugging Face format (``AutoModelForMaskedLM.from_pretrained(dir)`` loads it):

* ``base="encoder"`` (default): the bundled all-MiniLM-L6-v2 encoder (or any BERT-like encoder) gets
  a masked-LM head — the transform layer new, the output layer tied to the word embeddings — and
  the head and the top ``train_layers`` layers (default 2; None: all) are trained with the MLM objective (Devlin et al. 2019: 15% of the tokens chosen;
  of those 80% -> [MASK], 10% -> a random token, 10% unchanged) on English texts. The encoder's
  WordPiece vocabulary and its knowledge of English carry over; minutes on a CPU give usable
  substitutes.
* ``base="scratch"``: a vocabulary trained on the texts and a few-layer BERT from random weights
  (``hidden``, ``layers``); the tests build a tiny one this way in a second. The vocabulary is
  WordPiece (``tokenizer="wordpiece"``, English) or a sentencepiece unigram model
  (``tokenizer="unigram"``: Kudo 2018, the algorithm of the ``sentencepiece`` library, trained with
  ``tokenizers``' Unigram trainer; NFKC, "▁" marks a piece that starts a word, no spaces
  needed), which segments text without word boundaries, such as Chinese, into pieces. The
  Chinese piece-level attack (``pieces-zh``, arXiv 2012.14769) uses a unigram MLM built on the
  ``chnsenti`` training texts.

``top_k_recall`` (in ``substitutes/mlm.py``) measures the result: how often the original word is in
the top-48 at a masked position.

Determinism: a seed fixes the initialisation, the batches, the masking and the dropout, without
touching the caller's global random state. The WordPiece vocabulary is the exception: the
``tokenizers`` trainer breaks ties between equally frequent merges in hash order, so two runs can
differ in a few rare pieces; ``--tokenizer unigram`` and ``--base encoder`` repeat exactly.

Crash safety: the loop checkpoints every ``save_steps`` steps (``mlm_checkpoints.py``: weights,
optimizer, RNG states and batch order, so a resumed run repeats the uninterrupted one exactly, the
scratch vocabulary included); ``resume=True`` (``--resume``) continues from the last checkpoint, or
returns the stats of a build that finished. The model is published weights-last
(``atomic.save_folder``), then ``mlm_build.json``, then the checkpoints are removed: a kill loses at
most the steps since the last checkpoint.

Usage::

    robustune mlm build --data mr --data sst2/train.tsv --steps 600 --output ~/.cache/robustune/mlm/default
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch

from ..atomic import remove_folder, save_folder, write_json
from ..errors import RobustuneError
from .mlm_checkpoints import LoopState, last_checkpoint, load_checkpoint, save_checkpoint

CHECKPOINTS, RUN, STATS = "checkpoints", "run.json", "mlm_build.json"


def wordpiece_tokenizer(texts: list[str], vocab_size: int):
    """A lower-casing BERT WordPiece tokenizer trained on ``texts``."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
                                                       special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")


def unigram_tokenizer(texts: list[str], vocab_size: int, max_piece_length: int = 8):
    """A sentencepiece-style unigram tokenizer trained on ``texts`` (BERT's special tokens and template).

    Pieces start with "▁" only at the text's start or after a space (``prepend_scheme="first"``), as
    in sentencepiece without a dummy prefix inside the text; a masked position keeps its neighbours'
    segmentation.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="first")
    tok.train_from_iterator(texts, trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials,
                                                           unk_token="[UNK]", max_piece_length=max_piece_length))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
                                                       special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")


TOKENIZERS = {"wordpiece": wordpiece_tokenizer, "unigram": unigram_tokenizer}


def mask_tokens(input_ids: torch.Tensor, special: torch.Tensor, mask_id: int, vocab_size: int,
                generator: torch.Generator, rate: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking of a (B, T) batch: returns (inputs, labels) with labels -100 where not predicted."""
    labels = input_ids.clone()
    chosen = (torch.rand(input_ids.shape, generator=generator) < rate) & ~special  # (B, T)
    labels[~chosen] = -100
    inputs = input_ids.clone()
    roll = torch.rand(input_ids.shape, generator=generator)
    inputs[chosen & (roll < 0.8)] = mask_id
    randomise = chosen & (roll >= 0.8) & (roll < 0.9)
    inputs[randomise] = torch.randint(vocab_size, input_ids.shape, generator=generator)[randomise]
    return inputs, labels


def _new_model(base: str, encoder: str | None, kind: str, texts: list[str], vocab_size: int, hidden: int,
               layers: int, max_length: int):
    """(tokenizer, BertForMaskedLM): the bundled encoder with a new MLM head, or a fresh small BERT."""
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM
    from transformers.utils import logging as hf_logging

    from ..assets import default_encoder

    if base == "encoder":
        source = encoder or default_encoder()
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # "newly initialized: cls.predictions..." is the point
        try:
            tokenizer = AutoTokenizer.from_pretrained(source)
            model = BertForMaskedLM.from_pretrained(source)
        except (OSError, ValueError) as err:
            raise RobustuneError(f"cannot load encoder {source!r} as BERT: {str(err).splitlines()[0]}") from None
        finally:
            hf_logging.set_verbosity(verbosity)
    else:
        tokenizer = TOKENIZERS[kind](texts, vocab_size)
        config = BertConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers,
                            num_attention_heads=max(1, hidden // 64), intermediate_size=4 * hidden,
                            max_position_embeddings=max(128, max_length))
        model = BertForMaskedLM(config)
        tokenizer.model_max_length = config.max_position_embeddings  # saved: users truncate within it
    return tokenizer, model


def build_mlm(output_dir: str | Path, texts: list[str], base: str = "encoder", encoder: str | None = None,
              steps: int = 600, batch_size: int = 32, max_length: int = 64, lr: float = 1e-4, seed: int = 0,
              vocab_size: int = 8000, hidden: int = 256, layers: int = 4, train_layers: int | None = 2,
              tokenizer: str = "wordpiece", save_steps: int = 200, resume: bool = False,
              progress: bool = True) -> dict:
    """Train a masked LM on ``texts`` and save it (safetensors + JSON) to ``output_dir``; returns stats.

    With ``resume``, continue the build interrupted in ``output_dir`` from its last checkpoint."""
    texts = [t for t in texts if t.strip()]
    if len(texts) < 2:
        raise RobustuneError("building a masked LM needs some texts; pass --data")
    if base not in ("encoder", "scratch"):
        raise RobustuneError(f"--base must be 'encoder' or 'scratch', got {base!r}")
    if tokenizer not in TOKENIZERS:
        raise RobustuneError(f"--tokenizer must be one of {', '.join(TOKENIZERS)}, got {tokenizer!r}")
    if base == "encoder" and tokenizer != "wordpiece":
        raise RobustuneError("--tokenizer applies to --base scratch (the encoder keeps its own vocabulary)")
    if train_layers is not None and train_layers < 0:
        raise RobustuneError(f"--train-layers must be >= 0 (or -1 for all layers), got {train_layers}")
    out = Path(output_dir)
    run = {"base": base, "encoder": encoder, "tokenizer": tokenizer, "vocab_size": vocab_size, "hidden": hidden,
           "layers": layers, "train_layers": train_layers, "steps": steps, "batch_size": batch_size,
           "max_length": max_length, "lr": lr, "seed": seed, "texts": len(texts),
           "texts_sha256": hashlib.sha256("\n".join(texts).encode()).hexdigest()}
    checkpoint = _resume_point(out, run) if resume else None
    if resume and checkpoint is None and (out / STATS).is_file() and not (out / CHECKPOINTS).exists():
        return _finished(out, run)
    # The initialisation and the dropout masks are seeded without touching the caller's global
    # random state; the batches and the masking use their own generators.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if checkpoint is None:
            tok, model = _new_model(base, encoder, tokenizer, texts, vocab_size, hidden, layers, max_length)
            if base == "encoder" and train_layers is not None and train_layers > len(model.bert.encoder.layer):
                # Refused before anything is written: a bad option leaves no folder behind.
                raise RobustuneError(f"--train-layers {train_layers}: the encoder has only "
                                     f"{len(model.bert.encoder.layer)} layers")
            remove_folder(out / CHECKPOINTS)
            write_json(out / CHECKPOINTS / RUN, run)
        else:
            from transformers import AutoTokenizer, BertForMaskedLM

            tok, model = AutoTokenizer.from_pretrained(checkpoint), BertForMaskedLM.from_pretrained(checkpoint)
        return _train_and_save(out, model, tok, texts, base=base, tokenizer_kind=tokenizer,
                               steps=steps, batch_size=batch_size, max_length=max_length, lr=lr, seed=seed,
                               train_layers=train_layers, save_steps=save_steps, checkpoint=checkpoint,
                               progress=progress)


def _resume_point(out: Path, run: dict) -> Path | None:
    """The checkpoint to resume from; a user error when it belongs to a build with other settings."""
    saved = out / CHECKPOINTS / RUN
    if not saved.is_file():
        return None
    before = json.loads(saved.read_text())
    changed = sorted(k for k in set(before) | set(run) if before.get(k) != run.get(k))
    if changed:
        raise RobustuneError(f"{out / CHECKPOINTS}: --resume with other settings than the interrupted build "
                             f"({', '.join(changed)}); resume with the same ones, or drop --resume to start again")
    return last_checkpoint(out / CHECKPOINTS)


def _finished(out: Path, run: dict) -> dict:
    """``--resume`` of a build that finished: its stats, if it was built with the same settings."""
    remove_folder(out / CHECKPOINTS)  # what a kill while deleting them left aside
    stats = json.loads((out / STATS).read_text())
    changed = [k for k in ("base", "steps", "batch_size", "seed", "texts") if stats.get(k) != run[k]]
    if changed:
        raise RobustuneError(f"{out}: holds a finished build with other settings ({', '.join(changed)}); "
                             "drop --resume to build again")
    return stats


def _train_and_save(out: Path, model, tokenizer, texts: list[str], *, base: str, tokenizer_kind: str, steps: int,
                    batch_size: int, max_length: int, lr: float, seed: int, train_layers: int | None,
                    save_steps: int, checkpoint: Path | None, progress: bool) -> dict:
    from tqdm.auto import tqdm

    if base == "encoder" and train_layers is not None:
        # Only the head and the top layers learn: the lower layers and the embeddings (which the
        # output layer shares) keep the encoder's English; a step costs a fraction of full training.
        layers_list = model.bert.encoder.layer
        for param in model.bert.parameters():
            param.requires_grad = False
        for layer in layers_list[len(layers_list) - train_layers:]:
            for param in layer.parameters():
                param.requires_grad = True
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / max(1, steps // 10)) * max(0.0, 1 - s / steps))
    state = LoopState(step=0, losses=[], seconds=0.0, optimizer=optimizer, schedule=schedule,
                      generator=torch.Generator().manual_seed(seed), order=np.random.default_rng(seed))
    if checkpoint is not None:
        load_checkpoint(checkpoint, state)
    generator, order, losses = state.generator, state.order, state.losses
    special_ids = torch.tensor(tokenizer.all_special_ids)
    start = time.perf_counter() - state.seconds
    for step in tqdm(range(state.step, steps), desc="mlm build", unit="step", disable=not progress,
                     initial=state.step, total=steps):
        batch_texts = [texts[i] for i in order.integers(len(texts), size=batch_size)]
        enc = tokenizer(batch_texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
        special = torch.isin(enc["input_ids"], special_ids)  # (B, T)
        inputs, labels = mask_tokens(enc["input_ids"], special, tokenizer.mask_token_id, len(tokenizer), generator)
        hidden = model.bert(input_ids=inputs, attention_mask=enc["attention_mask"]).last_hidden_state  # (B, T, D)
        chosen = labels != -100
        # The vocabulary projection only at the predicted positions (~15%): the costliest matmul.
        logits = model.cls(hidden[chosen])  # (M, V)
        loss = torch.nn.functional.cross_entropy(logits.float(), labels[chosen])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if (step + 1) % save_steps == 0 and step + 1 < steps:
            state.step, state.seconds = step + 1, time.perf_counter() - start
            save_checkpoint(out / CHECKPOINTS, model, tokenizer, state)

    def save(staging: Path) -> None:
        model.eval().save_pretrained(staging)
        tokenizer.save_pretrained(staging)

    save_folder(out, save, last="model.safetensors")
    stats = {"base": base, "tokenizer": tokenizer_kind if base == "scratch" else "encoder's", "vocab_size": len(tokenizer),
             "train_layers": train_layers if base == "encoder" else "all", "texts": len(texts),
             "steps": steps, "batch_size": batch_size, "seed": seed,
             "first_loss": float(np.mean(losses[:20])), "last_loss": float(np.mean(losses[-20:])),
             "seconds": round(time.perf_counter() - start, 1)}
    write_json(out / STATS, stats)
    remove_folder(out / CHECKPOINTS)
    return stats
