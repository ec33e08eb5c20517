"""Data layer: sources (files, saved folders, bundled and hub datasets), validation and sampling."""

from .dataset import LabelMap, TextDataset
from .sampling import imbalance, k_shot, label_noise, random_subset, stratified_split
from .sources import load_source

__all__ = ["LabelMap", "TextDataset", "load_source", "stratified_split", "random_subset", "k_shot",
           "imbalance", "label_noise"]
