"""The one model object the worker loads: encoders, heads, CLIP and preprocessing.

Encoders and heads run separately: the pipeline encodes texts and images
(caching the features under :attr:`ModerationModel.encoder_ids`), then scores
whole batches of posts with the heads alone. All methods are synchronous.

A heads checkpoint is a folder with ``heads.safetensors`` (keys ``bias.*``: the
bias model outside its encoders; ``entailment.*``: the entailment head) and
``heads.json`` (hyper-parameters, entailment label map, suggested thresholds and
the weight hashes of the encoders the heads were trained on).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import safetensors.torch
import torch
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from torch import Tensor
from transformers import AutoImageProcessor, AutoTokenizer, ViTImageProcessor

from worker.errors import CheckpointError, ModelError
from worker.messages import ModelIdentity
from worker.model import identity as ids
from worker.model.bias import ENCODER_PREFIXES, BiasClassifier, load_strict, read_tensors
from worker.model.clip import ClipScorer
from worker.model.entailment import EntailmentHead
from worker.model.types import FloatArray, PostFeatures, PostScores
from worker.names import ENTAILMENT_LABELS
from worker.settings import Settings

__all__ = ["HEADS_FORMAT", "HeadsConfig", "ModerationModel", "length_buckets"]

log = logging.getLogger(__name__)

HEADS_FORMAT: Final = "moderation-heads/1"
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
_IMAGE_CHUNK = 32


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
    #: label -> output index of the entailment head as trained.
    entailment_labels: dict[str, int] = Field(
        default_factory=lambda: {label: i for i, label in enumerate(ENTAILMENT_LABELS)}
    )
    #: Suggested decision thresholds, e.g. {"bias": 0.5}; the settings decide.
    thresholds: dict[str, float] = Field(default_factory=dict)
    #: "text" / "image" -> sha256 of the encoder weights the heads were trained on.
    encoders: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def read(cls, folder: Path) -> HeadsConfig:
        path = folder / "heads.json"
        try:
            return cls.model_validate_json(path.read_bytes())
        except (OSError, ValidationError) as exc:
            raise CheckpointError(f"cannot read heads config {path}: {exc}") from exc


class ModerationModel:
    """Bias classifier, entailment head and (optional) CLIP behind one object.

    Example::

        model = ModerationModel.load(Settings())
        text = model.encode_texts(["some post"])
        image = model.encode_images([pil_image])
        [scores] = model.score([PostFeatures(text=text[0], images=[image[0]])])
    """

    def __init__(
        self, settings: Settings, bias: BiasClassifier, entailment: EntailmentHead,
        tokenizer: Any, image_processor: Any, clip: ClipScorer | None, heads: HeadsConfig,
        device: torch.device | None = None,
    ) -> None:
        self.settings, self.bias, self.entailment, self.clip = settings, bias, entailment, clip
        self.tokenizer, self.image_processor, self.heads = tokenizer, image_processor, heads
        self.device = torch.device("cpu")
        self._tokenizer_lock = threading.Lock()
        text_config: Any = bias.text_encoder.config
        positions = int(text_config.max_position_embeddings)
        self.max_text_tokens = min(settings.max_text_tokens, positions)
        self._components = _component_hashes(bias, entailment, clip)
        self._identity = ModelIdentity(
            text_encoder=settings.text_encoder, image_encoder=settings.image_encoder,
            clip=settings.clip_model or None, heads=heads.name,
            weights_sha256=ids.combine_hashes(self._components), components=self._components,
        )
        self._encoder_ids = self._make_encoder_ids()
        self.to(device or self.device)  # after hashing, which reads the weights on the CPU

    # --- loading ------------------------------------------------------------------
    @classmethod
    def load(cls, settings: Settings) -> ModerationModel:
        """Load everything named by ``settings``, ready for inference."""
        if settings.torch_threads > 0:
            torch.set_num_threads(settings.torch_threads)
        heads = HeadsConfig.read(settings.heads) if settings.heads else HeadsConfig()
        try:
            tokenizer = AutoTokenizer.from_pretrained(settings.text_encoder)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"cannot load tokenizer {settings.text_encoder!r}: {exc}") from exc
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # untrained heads are the same in every process
            bias = BiasClassifier.from_pretrained(
                settings.text_encoder, settings.image_encoder, heads.projection_dim,
                proj_dropout=heads.proj_dropout, fusion_dropout=heads.fusion_dropout,
            )
            entailment = EntailmentHead(heads.projection_dim, heads.entailment_dropout)
        if settings.heads:
            _load_heads(settings.heads, heads, bias, entailment)
        clip = None
        if settings.clip_model:
            clip = ClipScorer.load(
                settings.clip_model, settings.clip_labels, settings.clip_prompt_template
            )
        return cls(
            settings, bias, entailment, tokenizer, _resnet_processor(settings.image_encoder),
            clip, heads, _pick_device(settings.device),
        )

    def to(self, device: torch.device) -> ModerationModel:
        """Move every model to ``device`` in eval mode."""
        self.device = device
        self.bias.to(device).eval()
        # channels_last runs the ResNet 1.3x (batch 1) to 2x (batch 8+) faster on the
        # project's CPUs (shared/ENVIRONMENT.md); torch's Module.to stub lacks the argument.
        image_encoder: Any = self.bias.image_encoder
        image_encoder.to(memory_format=torch.channels_last)
        self.entailment.to(device).eval()
        if self.clip is not None:
            self.clip.to(device)
        return self

    def save_heads(
        self, folder: Path, *, name: str, thresholds: dict[str, float] | None = None
    ) -> None:
        """Write this model's heads as a checkpoint that :meth:`load` accepts."""
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {f"bias.{k}": v for k, v in self.bias.head_state_dict().items()}
        tensors |= {f"entailment.{k}": v for k, v in self.entailment.state_dict().items()}
        config = HeadsConfig(
            name=name, projection_dim=self.bias.projection_dim, thresholds=thresholds or {},
            encoders={"text": self._components["text_encoder"],
                      "image": self._components["image_encoder"]},
        )
        cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
        safetensors.torch.save_file(cpu, str(folder / "heads.safetensors"))
        (folder / "heads.json").write_text(config.model_dump_json(indent=2), encoding="utf-8")

    # --- the Scorer protocol --------------------------------------------------------
    @property
    def identity(self) -> ModelIdentity:
        return self._identity

    @property
    def encoder_ids(self) -> dict[str, str]:
        return dict(self._encoder_ids)

    def count_tokens(self, text: str) -> int:
        return len(self._token_ids([text])[0])

    def encode_texts(self, texts: Sequence[str]) -> FloatArray:
        out = np.zeros((len(texts), self.bias.text_hidden), dtype=np.float32)
        token_ids = self._token_ids(texts)
        pad_id = int(self.tokenizer.pad_token_id or 0)
        for chunk in length_buckets([len(t) for t in token_ids]):
            input_ids, mask = _pad([token_ids[i] for i in chunk], pad_id)
            with torch.inference_mode(), _model_errors("text encoder"):
                features = self.bias.encode_text(input_ids.to(self.device), mask.to(self.device))
            out[chunk] = features.float().cpu().numpy()
        return out

    def encode_images(self, images: Sequence[Image.Image]) -> FloatArray:
        out = np.zeros((len(images), self.bias.image_hidden), dtype=np.float32)
        if not images:
            return out
        with _model_errors("image preprocessing"):
            pixels = self.image_processor(images=_rgb(images), return_tensors="pt")
        for start in range(0, len(images), _IMAGE_CHUNK):
            batch = pixels["pixel_values"][start : start + _IMAGE_CHUNK].to(self.device)
            batch = batch.contiguous(memory_format=torch.channels_last)
            with torch.inference_mode(), _model_errors("image encoder"):
                features = self.bias.encode_image(batch)
            out[start : start + len(batch)] = features.float().cpu().numpy()
        return out

    def clip_encode_texts(self, texts: Sequence[str]) -> FloatArray:
        with _model_errors("CLIP text encoder"):
            return _numpy(self._require_clip().encode_texts(texts))

    def clip_encode_images(self, images: Sequence[Image.Image]) -> FloatArray:
        with _model_errors("CLIP image encoder"):
            return _numpy(self._require_clip().encode_images(images))

    def score(self, posts: Sequence[PostFeatures]) -> list[PostScores]:
        if not posts:
            return []
        with torch.inference_mode(), _model_errors("heads"):
            batch = _HeadBatch(self.bias, posts)
            bias = batch.bias_scores(self.bias)
            entailment = batch.entailment(self.entailment)
            clip = self.clip.post_scores(posts) if self.clip else [([], None) for _ in posts]
        return [
            PostScores(
                bias_score=max(bias[n]),
                bias_image_scores=bias[n] if post.images else [],
                entailment=entailment[n],
                clip_similarity=clip[n][0],
                clip_zero_shot=clip[n][1],
            )
            for n, post in enumerate(posts)
        ]

    # --- helpers ------------------------------------------------------------------
    def _token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        if not texts:
            return []
        # A Rust tokenizer called from two threads at once can fail with
        # "Already borrowed" (it stores the truncation setting), hence the lock.
        with self._tokenizer_lock:
            encoded = self.tokenizer(list(texts), truncation=True, max_length=self.max_text_tokens)
        return [list(ids_) for ids_ in encoded["input_ids"]]

    def _require_clip(self) -> ClipScorer:
        if self.clip is None:
            raise ModelError("CLIP is disabled (settings.clip_model is empty)")
        return self.clip

    def _make_encoder_ids(self) -> dict[str, str]:
        tokenizer_sha = ids.text_sha256([self.tokenizer.backend_tokenizer.to_str()])
        result = {
            "text": ids.short_id(self._components["text_encoder"], {
                "tokenizer": tokenizer_sha, "max_tokens": self.max_text_tokens, "feature": "cls"}),
            "image": ids.short_id(self._components["image_encoder"], {
                "processor": self.image_processor.to_dict(), "feature": "spatial-mean"}),
        }
        if self.clip is not None:
            clip_sha = self._components["clip"]
            result["clip_text"] = ids.short_id(clip_sha, self.clip.preprocessing("text"))
            result["clip_image"] = ids.short_id(clip_sha, self.clip.preprocessing("image"))
        return result


# --- batched head scoring ---------------------------------------------------------
class _Rows:
    """Feature vectors of one kind gathered from many posts; -1 means absent."""

    def __init__(self, width: int, what: str) -> None:
        self.width, self.what, self.rows = width, what, list[FloatArray]()

    def add(self, row: FloatArray | None) -> int:
        if row is None:
            return -1
        array = np.asarray(row, dtype=np.float32)
        if array.shape != (self.width,):
            raise ModelError(
                f"{self.what} feature has shape {array.shape}, expected ({self.width},): "
                "computed by another model?"
            )
        self.rows.append(array)
        return len(self.rows) - 1

    def add_all(self, rows: Sequence[FloatArray]) -> list[int]:
        return [self.add(row) for row in rows]

    def tensor(self, device: torch.device) -> Tensor:
        if not self.rows:
            return torch.zeros((0, self.width), device=device)
        return torch.from_numpy(np.stack(self.rows)).to(device)


class _HeadBatch:
    """A batch of posts' features (and their references'), projected once.

    Index -1 means "absent" and picks the zero row appended to each table.
    """

    def __init__(self, bias: BiasClassifier, posts: Sequence[PostFeatures]) -> None:
        for n, post in enumerate(posts):
            if post.text is None and not post.images:
                raise ModelError(f"post {n} of the batch has neither text nor images")
        texts = _Rows(bias.text_hidden, "text")
        images = _Rows(bias.image_hidden, "image")
        refs = [p.reference if p.reference and not p.reference.is_empty else None for p in posts]
        self.post_text = [texts.add(p.text) for p in posts]
        self.post_images = [images.add_all(p.images) for p in posts]
        self.with_reference = [n for n, ref in enumerate(refs) if ref is not None]
        self.ref_text = [texts.add(r.text) if r else -1 for r in refs]
        self.ref_images = [images.add_all(r.images) if r else [] for r in refs]
        device = next(bias.parameters()).device
        self.text = _with_zero_row(bias.project_text(texts.tensor(device)))
        self.image = _with_zero_row(bias.project_image(images.tensor(device)))

    def bias_scores(self, bias: BiasClassifier) -> list[list[float]]:
        """Per post, one probability per (text, image_k) pair, or one text-only score."""
        pairs = [
            (n, text, image)
            for n, text in enumerate(self.post_text)
            for image in (self.post_images[n] or [-1])
        ]
        t_idx = self._index([p[1] for p in pairs])
        i_idx = self._index([p[2] for p in pairs])
        logits = bias.fuse_and_classify(self.text[t_idx], self.image[i_idx], t_idx >= 0, i_idx >= 0)
        scores: list[list[float]] = [[] for _ in self.post_text]
        for (n, _, _), prob in zip(pairs, torch.sigmoid(logits[:, 0]).tolist(), strict=True):
            scores[n].append(float(prob))
        return scores

    def entailment(self, head: EntailmentHead) -> list[tuple[float, float, float] | None]:
        """a = the referenced post, b = the post; a post's image is its images' mean."""
        result: list[tuple[float, float, float] | None] = [None] * len(self.post_text)
        rows = self.with_reference
        if not rows:
            return result
        present = torch.tensor(
            [[self.ref_text[n] >= 0, bool(self.ref_images[n]),
              self.post_text[n] >= 0, bool(self.post_images[n])] for n in rows],
            device=self.text.device,
        )
        probs = head.probabilities(
            self.text[self._index([self.ref_text[n] for n in rows])],
            torch.stack([self._mean_image(self.ref_images[n]) for n in rows]),
            self.text[self._index([self.post_text[n] for n in rows])],
            torch.stack([self._mean_image(self.post_images[n]) for n in rows]),
            present,
        )
        for n, row in zip(rows, probs.tolist(), strict=True):
            result[n] = (float(row[0]), float(row[1]), float(row[2]))
        return result

    def _index(self, rows: list[int]) -> Tensor:
        return torch.tensor(rows, dtype=torch.long, device=self.text.device)

    def _mean_image(self, rows: list[int]) -> Tensor:
        return self.image[rows].mean(dim=0) if rows else self.image[-1]


# --- loading helpers -----------------------------------------------------------------
def _load_heads(
    folder: Path, config: HeadsConfig, bias: BiasClassifier, entailment: EntailmentHead
) -> None:
    """Load a heads checkpoint, refusing one trained on other encoders."""
    actual = {"text": ids.weights_sha256(bias.text_encoder),
              "image": ids.weights_sha256(bias.image_encoder)}
    for kind, sha in actual.items():
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


def _component_hashes(
    bias: BiasClassifier, entailment: EntailmentHead, clip: ClipScorer | None
) -> dict[str, str]:
    components = {
        "text_encoder": ids.weights_sha256(bias.text_encoder),
        "image_encoder": ids.weights_sha256(bias.image_encoder),
        "bias_heads": ids.state_sha256(bias.head_state_dict()),
        "entailment_head": ids.weights_sha256(entailment),
    }
    if clip is not None:
        components["clip"] = ids.weights_sha256(clip.model)
    return components


def _resnet_processor(id_or_path: str) -> Any:
    """The card's image transform: resize straight to a square, ImageNet mean/std.

    The side comes from the encoder's saved processor (224 for resnet-34, whose
    processor would otherwise resize-and-crop); the card always normalises with
    ImageNet statistics, which HF processors do not default to.
    """
    try:
        size = AutoImageProcessor.from_pretrained(id_or_path).size  # type: ignore[no-untyped-call]
        side = int(size.get("height") or size.get("shortest_edge") or 224)
    except (OSError, ValueError, KeyError, AttributeError):
        log.warning("no image processor config for %r; resizing to 224", id_or_path)
        side = 224
    return ViTImageProcessor(
        do_resize=True, size={"height": side, "width": side}, resample=Image.Resampling.BILINEAR,
        do_rescale=True, do_normalize=True, image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD,
    )


def _pick_device(wanted: str) -> torch.device:
    if wanted in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    if wanted == "cuda":
        log.warning("MODERATION_DEVICE=cuda but CUDA is not available; running on CPU")
    return torch.device("cpu")


def length_buckets(
    lengths: Sequence[int], *, max_items: int = 64, max_waste: float = 0.5
) -> list[list[int]]:
    """Group indices by length so each group pads little.

    Indices are visited shortest first; a group closes when it holds ``max_items``
    or when adding the next (longest so far) would make more than ``max_waste`` of
    the padded group padding.
    """
    groups: list[list[int]] = []
    current: list[int] = []
    real = 0
    for i in sorted(range(len(lengths)), key=lambda k: lengths[k]):
        size = lengths[i]
        padded = (len(current) + 1) * size
        if current and (len(current) >= max_items or 1 - (real + size) / padded > max_waste):
            groups.append(current)
            current, real = [], 0
        current.append(i)
        real += size
    if current:
        groups.append(current)
    return groups


def _pad(rows: Sequence[list[int]], pad_id: int) -> tuple[Tensor, Tensor]:
    """Right-pad to the longest row of *this* batch (never to the model's maximum)."""
    longest = max(len(row) for row in rows)
    input_ids = torch.full((len(rows), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), longest), dtype=torch.long)
    for n, row in enumerate(rows):
        input_ids[n, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[n, : len(row)] = 1
    return input_ids, mask


def _with_zero_row(table: Tensor) -> Tensor:
    return torch.cat([table, table.new_zeros((1, table.shape[1]))])


def _rgb(images: Sequence[Image.Image]) -> list[Image.Image]:
    return [image if image.mode == "RGB" else image.convert("RGB") for image in images]


def _numpy(tensor: Tensor) -> FloatArray:
    return tensor.float().cpu().numpy()


@contextmanager
def _model_errors(what: str) -> Iterator[None]:
    """Torch raises RuntimeError (out of memory, shape or device mismatch) and the
    processors ValueError (an image they cannot handle)."""
    try:
        yield
    except (RuntimeError, ValueError) as exc:
        raise ModelError(f"{what} failed: {exc}") from exc
