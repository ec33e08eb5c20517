"""safer — train on random word substitutions, predict by a vote over random substitutions (SAFER).

Ye, Gong, Liu. "SAFER: A Structure-free Approach for Certified Robustness to Adversarial Word
Substitutions", ACL 2020; compared with other defences in TextDefender (Li et al., EMNLP 2021, arXiv
2108.12777).

Each word w with a perturbation set S(w) (its near neighbours in a word-embedding space) is replaced by
a word drawn uniformly from S(w) ∪ {w}, independently per word; Π(x) is the input so perturbed, drawn
afresh every training step. Training objective:

    L = CE(f(Π(x)), y)

Prediction (modeling/smoothing.py, ``SubstitutionVote``): N perturbed copies Π^(1..N)(x), each classified
by f; p(c | x) = #{j : argmax f(Π^(j)(x)) = c} / N (the vote shares), and the label is the majority. An
attacker who swaps a word for one of its neighbours moves the input inside the same random neighbourhood,
so the vote changes little; that is the defence, and it is strongest against attacks whose substitutes
the sets cover (textfooler's embedding neighbours), weaker against others (bert-attack's masked-LM words,
deepwordbug's misspellings). Every prediction — an attack's queries included — costs N encoder forwards;
the attack summary counts them (``avg_model_forwards``). N, the keep rate and the vote's seed are saved
with the model, the perturbation sets in its weights file (``smoothing.*`` tensors), and N, the keep rate
and the seed can be overridden when predicting, evaluating or attacking (``--vote-samples``,
``--keep-rate``, ``--vote-seed``).

The perturbation sets: S(w) is the ``synonyms`` nearest GloVe 6B 50d neighbours of w with cosine ≥
``synonym_min_cos``, WordNet antonyms removed, parts of speech agreeing and stop-words left out (the word
list textfooler substitutes from, ``attacks.substitutes.GloveNeighbours``), kept where they are single
tokens of the model's vocabulary; stop-words themselves get no set (textfooler leaves them alone, and a
swapped "not" would change what the text says).

Defaults: ``synonyms`` = 8, cosine ≥ 0.5, N = 15. Measured on SST-2 with MiniLM (4,000 rows, 2 seeds,
200 attacked rows; BENCHMARKS.md "Randomised smoothing: safer, ranmask and dne"): 13.25 points more than
vanilla under textfooler, 9.25 under bert-attack, 14.25 under deepwordbug, and 4.9 points less clean
accuracy (the base model alone loses 1.2 on unchanged texts: the vote's copies cost the rest); 4
neighbours gained as much for as much clean accuracy, 50 (textfooler's whole GloVe space) no more for
7.3 points, and ``keep_rate`` 0.5 gained +14 / +11 / +18 for 3.7 points, the best trade (one seed each);
trained besides on A2T's random-sampling adversarial rows for 4 epochs (``--adversarial textfooler
--adversarial-search random``) it gained +23.5 / +11 / +19.5 for 4.5 points (one seed).
Filtering the sets by sentiment (keep rate 0.5, one seed; "safer with perturbation sets filtered by
sentiment"): without the neighbours of opposite sentiment the vote is as accurate as before (82.45%
against 82.22%); with a sentiment word kept to its own side's neighbours it loses 2.3 points instead of
3.7 and gains less, +9 under textfooler and +7 under bert-attack.
On AG News (one seed, 100 attacked rows; "Defences under attack (AG News)") the sets of 8 cost 1.0 point
of clean accuracy and gain 22 points under textfooler, 19 under bert-attack and 44 under deepwordbug.

Deviations from the paper, and why:
- The paper's sets come from counter-fitted vectors (which push antonyms apart); none can be had
  offline, so GloVe neighbours with WordNet antonyms removed stand in (as in textfooler here). WordNet
  lists few antonyms, and GloVe still places "boring" beside "funny" and "admired" beside "disliked"
  (1,189 of the 20,859 neighbours of the VADER lexicon's rated words), and "bad" beside "really",
  "little", "bit" (11,899 of them are unrated words). Two filters (``attacks.sentiment``), closer to what
  counter-fitting does for sentiment words, are options, off by default so that the measured sets stay
  the default: ``synonym_keep_polarity`` leaves out a neighbour rated on the other side of neutral than the
  word; ``synonym_same_polarity`` keeps, for a rated word, only the neighbours rated on its side (an
  unrated word keeps its set).
- Substitution works on tokens: only words that are one token of a WordPiece vocabulary (BERT-style
  ``##`` pieces) are substituted, by single-token words, so a copy keeps the input's length and the vote
  runs on tokenized batches; a word the tokenizer splits is kept. Other tokenizers are refused.
- Each input's N copies come from a generator seeded with a hash of (seed, its token ids), so a
  prediction is reproducible and does not depend on the batch (the paper draws them afresh per call).
- Training substitutions come from a generator seeded with the run's seed (a resumed run draws a fresh
  stream).
- ``keep_rate`` (not in the paper; 0, the paper's uniform draw, by default) raises the probability that a
  word keeps itself, in training and in the vote alike: a copy then stays closer to the input, which
  trades the vote's robustness for clean accuracy; the other words of the set stay equally likely.

Example::

    robustune train --data sst2/train.tsv --method safer --synonyms 8 --vote-samples 15 --output out/
    robustune attack --model out/ --data sst2/test.tsv --recipe textfooler
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..attacks.constraints import stop_words
from ..attacks.sentiment import polarity
from ..attacks.substitutes import GloveNeighbours
from ..errors import RobustuneError
from ..modeling.smoothing import (SubstitutionVote, substitute_tokens, substitution_table, whole_words,
                                  word_piece_continuations)
from .input_noise import InputNoise, VoteParams


def perturbation_sets(tokenizer, params: NeighbourParams, method: str):
    """(offsets, candidates, continuation): the perturbation sets over ``tokenizer``'s vocabulary (the
    ``params.synonyms`` nearest GloVe neighbours of cosine >= ``params.synonym_min_cos``, none for stop-words,
    filtered by sentiment as ``params`` asks; see the module docstring) and its ``##`` pieces; a user error
    naming ``method`` for a tokenizer without WordPiece pieces."""
    continuation = word_piece_continuations(tokenizer)
    if not continuation.any():
        raise RobustuneError(f"{method} works on whole words of a WordPiece vocabulary (BERT-style '##' "
                             "pieces); this encoder's tokenizer has none")
    glove = GloveNeighbours(k=params.synonyms, min_cos=params.synonym_min_cos)
    skip = stop_words()

    def neighbours(word: str) -> list[str]:
        if word in skip:
            return []
        # The filters act on the k nearest: a word keeps fewer neighbours, never farther ones.
        found, side = glove.neighbours(word), polarity(word)
        if params.synonym_same_polarity and side:
            return [n for n in found if polarity(n) == side]
        if params.synonym_keep_polarity:
            return [n for n in found if polarity(n) * side >= 0]
        return found

    offsets, candidates = substitution_table(tokenizer, neighbours)
    return offsets, candidates, continuation


@dataclass
class NeighbourParams(VoteParams):
    """The perturbation sets' settings (safer's sets, dne's first-order hull vertices) and the vote's."""

    synonyms: int = field(default=8, metadata={"help": "safer, dne: size of each word's perturbation set (dne: its "
                                                       "first-order hull vertices), its nearest GloVe neighbours (8)"})
    synonym_min_cos: float = field(default=0.5, metadata={"help": "safer, dne: least cosine of a neighbour in the "
                                                                   "perturbation set (0.5)"})
    synonym_keep_polarity: bool = field(default=False, metadata={
        "help": "safer, dne: leave out of each word's perturbation set the neighbours of opposite sentiment "
                "(VADER lexicon), as the paper's counter-fitted vectors push antonyms apart (off)"})
    synonym_same_polarity: bool = field(default=False, metadata={
        "help": "safer, dne: a word of the VADER lexicon keeps only the neighbours rated on its side of neutral, "
                "so that a copy keeps the sentiment words' sentiment (off)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.synonyms < 1:
            raise ValueError(f"synonyms must be >= 1, got {self!r}")
        if not -1 <= self.synonym_min_cos <= 1:
            raise ValueError(f"synonym_min_cos must be in [-1, 1], got {self!r}")


class Safer(InputNoise):
    name = "safer"

    @dataclass
    class Params(NeighbourParams):
        keep_rate: float = field(default=0.0, metadata={"help": "safer: least probability that a word keeps "
                                                                 "itself in a substituted copy; 0 draws uniformly "
                                                                 "from its set and itself, as the paper (0)"})

        def __post_init__(self) -> None:
            super().__post_init__()
            if not 0 <= self.keep_rate <= 1:
                raise ValueError(f"keep_rate must be in [0, 1], got {self!r}")

    def __init__(self, params=None):
        super().__init__(params)
        self._offsets = self._candidates = self._continuation = None

    def setup(self, classifier, train_dataset) -> None:
        self._offsets, self._candidates, self._continuation = perturbation_sets(
            classifier.tokenizer, self.params, self.name)
        super().setup(classifier, train_dataset)

    def altered(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Π(x) for a batch, (B, T), from the method's seeded generator (on the CPU, where the table is)."""
        ids = input_ids.cpu()
        eligible = whole_words(ids, attention_mask.cpu(), self._continuation)  # (B, T)
        generator = self.generator(torch.device("cpu"))
        return substitute_tokens(ids, eligible, self._offsets, self._candidates, generator,
                                 self.params.keep_rate).to(input_ids.device)

    def finalize(self, classifier, train_dataset) -> None:
        p = self.params
        classifier.smoothing = SubstitutionVote(samples=p.vote_samples, seed=p.vote_seed, keep=p.keep_rate,
                                                offsets=self._offsets, candidates=self._candidates,
                                                continuation=self._continuation)
