"""LMFlow-format datasets: the types, reading/writing, importers and validation reports."""

from feedlearn.tune.data.importers import IMPORTERS, convert
from feedlearn.tune.data.io import TuneDataset, load_dataset, save_dataset
from feedlearn.tune.data.report import DatasetReport, describe
from feedlearn.tune.data.schema import DATASET_TYPES

__all__ = ["DATASET_TYPES", "IMPORTERS", "DatasetReport", "TuneDataset", "convert", "describe", "load_dataset",
           "save_dataset"]
