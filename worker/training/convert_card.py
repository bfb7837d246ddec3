"""Convert the model card's published checkpoint into what the worker loads.

The card publishes one folder (``config.json`` + ``model_weights.pth``) holding
both encoders and the heads; :meth:`ModerationModel.load` wants each encoder as
a transformers folder and the heads as a heads checkpoint (:mod:`.heads`)::

    out/text    text encoder (save_pretrained) + its tokenizer
    out/image   image encoder (save_pretrained) + the card's image processor
    out/heads   heads.safetensors + heads.json, named after the card folder

The card has no entailment head, so ``out/heads`` carries an untrained one
(seeded: two conversions of one checkpoint write the same files).

Example::

    paths = convert_card_checkpoint(Path("downloads/bias-card"), Path("checkpoints/card"))
    Settings(text_encoder=str(paths["text"]), image_encoder=str(paths["image"]),
             heads=paths["heads"])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from worker.errors import CheckpointError
from worker.model.bias import BiasClassifier
from worker.model.checkpoint import load_tokenizer, read_card_config
from worker.model.entailment import EntailmentHead
from worker.model.heads import HeadsConfig, encoder_hashes, save_heads
from worker.model.preprocess import card_image_processor

__all__ = ["convert_card_checkpoint"]


def convert_card_checkpoint(
    card_folder: Path,
    out: Path,
    *,
    tokenizer_id_or_path: str | None = None,
    image_id_or_path: str | None = None,
) -> dict[str, Path]:
    """Write ``card_folder``'s checkpoint as ``out/text``, ``out/image`` and ``out/heads``.

    The checkpoint is read with torch's weights-only loader. The tokenizer comes
    from ``tokenizer_id_or_path`` (default: the config's text encoder); the image
    encoder's architecture from ``image_id_or_path`` (default: the config's, else
    ``microsoft/resnet-34``). Refuses to write into non-empty folders. Returns the
    three folders under the keys ``text``, ``image`` and ``heads``.
    """
    config = read_card_config(card_folder)
    if config.num_classes != 1:
        raise CheckpointError(f"{card_folder}: num_classes={config.num_classes}; the worker needs 1")
    paths = {"text": out / "text", "image": out / "image", "heads": out / "heads"}
    for path in paths.values():
        if path.exists() and any(path.iterdir()):
            raise CheckpointError(f"{path} exists and is not empty; not overwriting it")
    tokenizer = load_tokenizer(tokenizer_id_or_path or config.text_encoder_id_or_path)
    bias = BiasClassifier.from_checkpoint(card_folder, image_id_or_path=image_id_or_path).eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        entailment = EntailmentHead(config.projection_dim)
    _save_pretrained(paths["text"], bias.text_encoder, tokenizer)
    _save_pretrained(paths["image"], bias.image_encoder, card_image_processor())
    heads = HeadsConfig(
        name=card_folder.resolve().name,
        projection_dim=config.projection_dim,
        proj_dropout=config.proj_dropout,
        fusion_dropout=config.fusion_dropout,
        encoders=encoder_hashes(bias),
        trained=("bias",),  # the card has no entailment head: ours stays random
    )
    save_heads(paths["heads"], heads, bias, entailment)
    return paths


def _save_pretrained(folder: Path, *parts: Any) -> None:
    try:
        for part in parts:
            part.save_pretrained(folder)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot write {folder}: {exc}") from exc
