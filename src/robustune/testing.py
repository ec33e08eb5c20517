"""Tiny models built in code, for fast tests that need no download (here and in users' own tests)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

_WORDS = """the a an and or but not no is are was were be been it this that these those of to in on at for with
as by from film movie story plot actor actors acting music scene scenes good great fine best better love loved
lovely fun funny charming brilliant wonderful moving beautiful bad worse worst awful boring dull terrible poor
hate hated mess weak ugly stupid slow long short very too so really quite just more most less i you he she we
they his her their my our its one two three first last new old time life world people man woman day year way
news sport sports game team win won lose lost match business market stock price company profit tech science
computer software internet space research world war government president election police country city""".split()


def tiny_vocab() -> list[str]:
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'-")
    return specials + chars + [f"##{c}" for c in chars] + sorted(set(_WORDS))


def build_tiny_encoder(directory: str | Path, hidden: int = 32, layers: int = 2, heads: int = 2,
                       seed: int = 0) -> Path:
    """Write a randomly initialised 2-layer BERT (about 30k parameters) and its tokenizer to ``directory``."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vocab = tiny_vocab()
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=2 * hidden, max_position_embeddings=128)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = BertModel(config)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


#: Word scores of :func:`lexicon_proba`, a toy sentiment victim for attack tests.
LEXICON = {"good": 2.0, "great": 2.5, "fine": 0.4, "decent": 0.3, "bad": -2.0, "awful": -2.5, "dull": -1.5,
           "boring": -1.5, "fun": 1.0, "okay": 0.1, "film": 0.0}


def lexicon_proba(texts: list[str]) -> np.ndarray:
    """A bag-of-words victim: (N, 2) probabilities with p(positive) = sigmoid(sum of the words' scores)."""
    from .attacks.text import WordText

    out = []
    for text in texts:
        score = sum(LEXICON.get(w.lower(), 0.0) for w in WordText.from_text(text).words)
        p = 1 / (1 + math.exp(-score))
        out.append([1 - p, p])
    return np.array(out)
