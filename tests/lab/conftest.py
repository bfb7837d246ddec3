"""The lab's tests use the tiny models and synthetic CSVs of the training tests."""

from tests.training.conftest import entailment_csvs, make_settings, sample_images, tiny_model, tiny_paths

__all__ = ["entailment_csvs", "make_settings", "sample_images", "tiny_model", "tiny_paths"]
