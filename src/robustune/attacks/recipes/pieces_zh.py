"""Chinese sentence-piece attack (Li et al., "Generating Adversarial Examples in Chinese Texts Using
Sentence-Pieces", arXiv 2012.14769).

The text is cut into the sentence pieces of the masked LM's own (unigram / sentencepiece)
vocabulary, no word segmentation; the importance of each piece is the drop in the gold-label
probability when it is replaced by the MLM's mask token (one batched query); in that order, the
MLM proposes the top-48 pieces at the masked position and the best 48 two-piece spans over it and
the next piece (two masks), ranked together by mean log-probability per piece; the greedy search
keeps the candidate that lowers the gold probability most and stops at the first label flip.

Constraints: punctuation and whitespace pieces untouched (pieces that mix characters with
punctuation, such as "了," in a unigram vocabulary, count as punctuation), no piece changed twice,
at most 40% of the pieces (a span counts its pieces), and sentence similarity >= 0.95 to the
original. Similarity is the cosine of the MLM's mean-pooled last hidden states
(:class:`MaskedLMSimilarity`), because the bundled MiniLM is English-only and no Chinese sentence
encoder can be had offline; the MLM is the only model here that reads Chinese. Its cosines run
high (a small MLM's space is anisotropic): on the MLM built from ``chnsenti`` (BENCHMARKS.md),
150 test reviews against three random top-10 piece substitutes gave a 5th percentile of 0.935 and a
median of 0.994, against an unrelated review a median of 0.889 and a 95th percentile of 0.960;
0.95 keeps nearly all few-piece edits and rejects most unrelated texts. (Deviation: a Chinese
sentence encoder would be the better judge of meaning; pass one's similarity constraint in code.)

Any HF masked LM works as ``mlm`` (a Chinese or multilingual one, e.g. an XLM-R checkpoint, for
users with internet); ``robustune mlm build --data chnsenti --base scratch --tokenizer unigram``
builds one offline to the default place.
"""

from pathlib import Path

from ...assets import cache_dir
from ...errors import RobustuneError
from ..attack import Attack
from ..constraints import ContentUnits, MaskedLMSimilarity, MaxModificationRate, RepeatModification
from ..pieces import PieceSegmenter
from ..search import GreedyWordImportance


def default_zh_mlm() -> str:
    """Where the Chinese recipes look for a masked LM when none is given."""
    return str(cache_dir() / "mlm" / "zh")


def resolve_mlm(mlm: str | None, recipe: str) -> str:
    mlm = mlm or default_zh_mlm()
    if mlm == default_zh_mlm() and not (Path(mlm) / "config.json").is_file():
        raise RobustuneError(f"{recipe} needs a Chinese (or multilingual) masked LM: pass --mlm PATH_OR_ID, or "
                             f"build one offline with `robustune mlm build --data chnsenti --base scratch "
                             f"--tokenizer unigram --output {default_zh_mlm()}`")
    return mlm


def masked_lm_attack(name: str, generator, segment, query_budget, similarity: float, max_rate: float) -> Attack:
    """The Chinese recipes' shared frame: units masked for importance, the MLM's substitutes, the
    MLM's own similarity; the recipes differ in the unit (``segment``) and the substitutes."""
    return Attack(
        name=name,
        generator=generator,
        constraints=[ContentUnits(), RepeatModification(), MaxModificationRate(max_rate),
                     MaskedLMSimilarity(generator.tokenizer, generator.model, similarity)],
        search=GreedyWordImportance(importance="unk", unk_token=generator.tokenizer.mask_token),
        query_budget=query_budget,
        segment=segment,
    )


def build(query_budget=None, seed=0, mlm=None, top_k=48, span=2, similarity=0.95, max_rate=0.4, **_) -> Attack:
    from ..substitutes.pieces import MaskedPieceSubstitutes

    generator = MaskedPieceSubstitutes(resolve_mlm(mlm, "pieces-zh"), top_k=top_k, span=span)
    return masked_lm_attack("pieces-zh", generator, PieceSegmenter(generator.tokenizer), query_budget,
                            similarity, max_rate)
