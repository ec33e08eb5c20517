"""The in-memory form of a labelled text dataset, and the label mapping that travels with a model."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import DataError


@dataclass
class TextDataset:
    """Texts with optional string labels.

    ``rows`` holds, for each example, where it came from (``"file.csv: row 3 (line 4)"``), so that
    errors found later (a label the model never saw) can still name the row.
    """

    texts: list[str]
    labels: list[str] | None
    origin: str
    rows: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.rows:
            self.rows = [f"{self.origin}: row {i + 1}" for i in range(len(self.texts))]
        if self.labels is not None and len(self.labels) != len(self.texts):
            raise ValueError("texts and labels differ in length")

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: list[int]) -> "TextDataset":
        return TextDataset(
            texts=[self.texts[i] for i in indices],
            labels=None if self.labels is None else [self.labels[i] for i in indices],
            origin=self.origin,
            rows=[self.rows[i] for i in indices],
        )

    def require_labels(self) -> list[str]:
        if self.labels is None:
            raise DataError(f"{self.origin}: has no label column, but labels are needed here")
        return self.labels


def _label_sort_key(label: str):
    # Integer-looking labels sort numerically ("2" before "10"); others alphabetically.
    try:
        return (0, int(label), "")
    except ValueError:
        return (1, 0, label)


@dataclass(frozen=True)
class LabelMap:
    """Label names in id order; saved in the model's config as ``id2label``."""

    names: tuple[str, ...]

    @classmethod
    def from_labels(cls, labels: list[str]) -> "LabelMap":
        names = tuple(sorted(set(labels), key=_label_sort_key))
        if len(names) < 2:
            raise DataError(f"training data needs at least 2 classes, found {list(names)}")
        return cls(names)

    def __len__(self) -> int:
        return len(self.names)

    def encode(self, data: TextDataset) -> list[int]:
        """Label ids of ``data``; an unknown label is an error naming its row."""
        index = {name: i for i, name in enumerate(self.names)}
        ids = []
        for label, row in zip(data.require_labels(), data.rows):
            if label not in index:
                raise DataError(
                    f"{row}: label {label!r} is not one the model was trained on ({', '.join(self.names)})"
                )
            ids.append(index[label])
        return ids
