"""The heads checkpoint: everything trained on top of the two encoders.

A heads checkpoint is a folder with ``heads.safetensors`` (keys ``bias.*``: the
bias model outside its encoders; ``entailment.*``: the entailment head) and
``heads.json`` (hyper-parameters, entailment label map, suggested thresholds and
the weight hashes of the encoders the heads were trained on). Heads are only
loaded on top of those very encoders.

Example::

    config = HeadsConfig(name="heads-v3", projection_dim=768, encoders=encoder_hashes(bias))
    save_heads(Path("checkpoints/heads-v3"), config, bias, entailment)
    load_heads(Path("checkpoints/heads-v3"), HeadsConfig.read(...), bias, entailment)
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

import safetensors.torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from torch import Tensor

from worker.errors import CheckpointError, ModelError
from worker.model import identity as ids
from worker.model.bias import ENCODER_PREFIXES, BiasClassifier
from worker.model.checkpoint import load_strict, read_tensors
from worker.model.entailment import EntailmentHead
from worker.model.links import TextLinks
from worker.names import ENTAILMENT_LABELS

__all__ = ["HEADS_FORMAT", "HeadsConfig", "encoder_hashes", "load_heads", "save_heads"]

HEADS_FORMAT: Final = "moderation-heads/1"


class HeadsConfig(BaseModel):
    """Contents of ``heads.json``: how the heads were built and what they expect.

    Example::

        HeadsConfig.read(Path("checkpoints/heads-v3")).thresholds   # {"bias": 0.62}
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["moderation-heads/1"] = HEADS_FORMAT
    name: str = "untrained"
    projection_dim: int = Field(768, ge=1)
    proj_dropout: float = Field(0.1, ge=0, lt=1)
    fusion_dropout: float = Field(0.1, ge=0, lt=1)
    entailment_dropout: float = Field(0.1, ge=0, lt=1)
    #: How the text encoder's token states are pooled ("cls": the card's; "mean").
    text_pooling: Literal["cls", "mean"] = "cls"
    #: Whether the text encoder is shown the posts' links ("keep") or not ("strip");
    #: see worker/model/links.py. Heads written before this existed kept them.
    text_links: TextLinks = "keep"
    #: Entailment input: "concat" of the two posts' features, or "pair" (plus |a-b|, a*b).
    entailment_features: Literal["concat", "pair"] = "concat"
    #: Trees of the entailment head's lexical component (0: none), their depth, and the
    #: weight of their probabilities in the blend (see worker/model/lexical.py).
    lexical_trees: int = Field(0, ge=0)
    lexical_depth: int = Field(3, ge=1, le=8)
    lexical_weight: float = Field(0.5, ge=0, le=1)
    #: label -> output index of the entailment head as trained.
    entailment_labels: dict[str, int] = Field(
        default_factory=lambda: {label: i for i, label in enumerate(ENTAILMENT_LABELS)}
    )
    #: Suggested decision thresholds, e.g. {"bias": 0.5}; the settings decide.
    thresholds: dict[str, float] = Field(default_factory=dict)
    #: "text" / "image" -> sha256 of the encoder weights the heads were trained on.
    encoders: dict[str, str] = Field(default_factory=dict)
    #: The heads this checkpoint trained ("bias", "entailment"); the others kept their
    #: random initial weights and never flag. ``None``: written before this was recorded.
    trained: tuple[str, ...] | None = None

    @classmethod
    def read(cls, folder: Path) -> HeadsConfig:
        path = folder / "heads.json"
        try:
            return cls.model_validate_json(path.read_bytes())
        except (OSError, ValidationError) as exc:
            raise CheckpointError(f"cannot read heads config {path}: {exc}") from exc


def encoder_hashes(bias: BiasClassifier) -> dict[str, str]:
    """The ``encoders`` entry of :class:`HeadsConfig` for heads on ``bias``'s encoders."""
    return {
        "text": ids.weights_sha256(bias.text_encoder),
        "image": ids.weights_sha256(bias.image_encoder),
    }


def save_heads(folder: Path, config: HeadsConfig, bias: BiasClassifier, entailment: EntailmentHead) -> None:
    """Write ``bias``'s heads and ``entailment`` as a checkpoint described by ``config``."""
    lexical = entailment.lexical
    built = (
        bias.projection_dim,
        bias.text_pooling,
        entailment.features,
        lexical.trees if lexical else 0,
        lexical.depth if lexical else config.lexical_depth,
        entailment.lexical_weight,
    )
    said = (
        config.projection_dim,
        config.text_pooling,
        config.entailment_features,
        config.lexical_trees,
        config.lexical_depth,
        config.lexical_weight,
    )
    if said != built:
        raise ModelError(
            "heads config says (projection_dim, text_pooling, entailment_features, lexical_trees, "
            f"lexical_depth, lexical_weight)={said}, model has {built}"
        )
    tensors = {f"bias.{k}": v for k, v in bias.head_state_dict().items()}
    tensors |= {f"entailment.{k}": v for k, v in entailment.state_dict().items()}
    cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        safetensors.torch.save_file(cpu, str(folder / "heads.safetensors"))
        (folder / "heads.json").write_text(config.model_dump_json(indent=2), encoding="utf-8")
    except OSError as exc:
        raise CheckpointError(f"cannot write heads {folder}: {exc}") from exc


def load_heads(folder: Path, config: HeadsConfig, bias: BiasClassifier, entailment: EntailmentHead) -> None:
    """Load a heads checkpoint into ``bias`` and ``entailment``, refusing one trained
    on other encoders."""
    for kind, sha in encoder_hashes(bias).items():
        if config.encoders.get(kind) != sha:
            raise CheckpointError(
                f"heads {folder} were trained on a different {kind} encoder "
                f"({config.encoders.get(kind)!r}, loaded: {sha!r})"
            )
    state = read_tensors(folder / "heads.safetensors")
    parts: dict[str, dict[str, Tensor]] = {"bias": {}, "entailment": {}}
    for key, tensor in state.items():
        prefix, _, name = key.partition(".")
        if prefix not in parts or name.startswith(ENCODER_PREFIXES):
            raise CheckpointError(f"heads {folder}: unexpected tensor {key!r}")
        parts[prefix][name] = tensor
    load_strict(bias, parts["bias"], skip_prefixes=ENCODER_PREFIXES, source=f"heads {folder}")
    load_strict(entailment, parts["entailment"], source=f"heads {folder}")
    entailment.reorder_outputs(config.entailment_labels)
