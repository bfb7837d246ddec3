"""A Hugging Face encoder with mean pooling and a linear head, and its folder on disk.

Folder layout (written by :func:`save_model`, read by :func:`load_model`)::

    finetune.json          FineTunedConfig: classes, categories, recipe, data, figures
    encoder/               the fine-tuned encoder (save_pretrained) and its tokenizer
    head.safetensors       weight [classes, hidden], bias [classes]

Example::

    model = PooledClassifier.from_encoder(recipe.encoder, n_classes=2, dropout=0.1)
    logits = model(input_ids, attention_mask)          # [N, 2]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from safetensors.torch import load_file, save_file
from torch import nn

from worker.errors import CheckpointError
from worker.finetune.recipe import FineTuneRecipe

__all__ = ["FINETUNE_FORMAT", "FineTunedConfig", "PooledClassifier", "load_model", "mean_pool", "save_model"]

FINETUNE_FORMAT: Final = "moderation-finetuned/1"


class FineTunedConfig(BaseModel):
    """What travels with the weights (the recipe, the data, the figures)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["moderation-finetuned/1"] = FINETUNE_FORMAT
    name: str
    classes: tuple[str, ...] = Field(min_length=2)
    #: class -> category ('' : the class is not a category, e.g. "neither")
    categories: dict[str, str]
    recipe: FineTuneRecipe
    data: dict[str, Any] = Field(default_factory=dict)
    figures: dict[str, Any] = Field(default_factory=dict)
    #: thresholds / calibration chosen on validation scores (see worker.training.thresholds)
    decision: dict[str, Any] = Field(default_factory=dict)
    #: ONNX files exported beside the weights, and whether int8 kept agreement
    onnx: dict[str, Any] = Field(default_factory=dict)


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean of the token vectors the attention mask keeps."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


class PooledClassifier(nn.Module):
    """encoder -> mean pooling -> dropout -> linear: logits per class."""

    def __init__(self, encoder: nn.Module, n_classes: int, dropout: float) -> None:
        super().__init__()
        self.encoder = encoder
        hidden = int(getattr(encoder, "config").hidden_size)  # noqa: B009 (a transformers model)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, n_classes)

    @classmethod
    def from_encoder(cls, source: str, n_classes: int, dropout: float, seed: int = 0) -> PooledClassifier:
        from worker.model.compat import ensure_torchvision_importable, silence_progress_bars

        ensure_torchvision_importable()
        silence_progress_bars()
        from transformers import AutoModel

        try:
            encoder = AutoModel.from_pretrained(source, add_pooling_layer=False)
        except TypeError:  # encoders without a pooler take no such argument
            encoder = AutoModel.from_pretrained(source)
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"cannot load encoder {source}: {exc}") from exc
        torch.manual_seed(seed)  # the head's initial weights
        return cls(encoder, n_classes, dropout)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(self.dropout(mean_pool(hidden, attention_mask)))  # type: ignore[no-any-return]


def load_tokenizer(source: str | Path) -> Any:
    from worker.model.compat import ensure_torchvision_importable

    ensure_torchvision_importable()
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(source))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot load the tokenizer of {source}: {exc}") from exc


def save_model(folder: Path, model: PooledClassifier, tokenizer: Any, config: FineTunedConfig) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    model.encoder.save_pretrained(folder / "encoder")  # type: ignore[operator]
    tokenizer.save_pretrained(str(folder / "encoder"))
    save_file(
        {"weight": model.head.weight.detach().contiguous(), "bias": model.head.bias.detach().contiguous()},
        str(folder / "head.safetensors"),
    )
    write_config(folder, config)


def write_config(folder: Path, config: FineTunedConfig) -> None:
    (folder / "finetune.json").write_text(json.dumps(config.model_dump(mode="json"), indent=2) + "\n")


def read_config(folder: Path) -> FineTunedConfig:
    try:
        return FineTunedConfig.model_validate_json((folder / "finetune.json").read_bytes())
    except (OSError, ValidationError) as exc:
        raise CheckpointError(f"{folder} is not a fine-tuned model folder: {exc}") from exc


def load_model(folder: Path) -> tuple[PooledClassifier, Any, FineTunedConfig]:
    """The model (in eval mode), its tokenizer and its config."""
    config = read_config(folder)
    model = PooledClassifier.from_encoder(str(folder / "encoder"), len(config.classes), config.recipe.dropout)
    try:
        head = load_file(str(folder / "head.safetensors"))
        model.head.load_state_dict({"weight": head["weight"], "bias": head["bias"]})
    except (OSError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"cannot read the head of {folder}: {exc}") from exc
    return model.eval(), load_tokenizer(folder / "encoder"), config
