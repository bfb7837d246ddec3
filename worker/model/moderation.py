"""The one model object the worker loads: encoders, heads, CLIP and preprocessing.

Encoders and heads run separately: the pipeline encodes texts and images
(caching the features under :attr:`ModerationModel.encoder_ids`), then scores
whole batches of posts with the heads alone (:mod:`.scoring`). All methods are
synchronous. The heads checkpoint format is described in :mod:`.heads`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from worker.config.settings import Settings
from worker.errors import ModelError
from worker.messages import ModelIdentity
from worker.model import identity as ids
from worker.model.agreement import Agreement
from worker.model.backends import Backend, Encoder, candidate_backends, computes_in_fp32
from worker.model.bias import BiasClassifier
from worker.model.category_dir import with_category_dir
from worker.model.category_heads import CategoryHeads
from worker.model.checkpoint import load_tokenizer
from worker.model.classifiers.group import ClassifierGroup
from worker.model.clip import ClipScorer
from worker.model.cpu_features import cpu_features
from worker.model.entailment import EntailmentHead
from worker.model.graphs import EncoderGraph, clip_image_graph, clip_text_graph, image_graph, text_graph
from worker.model.heads import HEADS_FORMAT, HeadsConfig, load_heads, save_heads
from worker.model.links import encoder_text
from worker.model.onnx_export import int8_recipe
from worker.model.precision import input_dtype, resolve_precision
from worker.model.preprocess import input_side, length_buckets, pad, padded_groups, resnet_processor, rgb
from worker.model.probe import PROBE_TEXTS, Prober, probe_images
from worker.model.runners import Runner, build_runners
from worker.model.scoring import score_posts
from worker.model.types import FloatArray, PostFeatures, PostScores
from worker.model.untrained import untrained_parts

# HEADS_FORMAT, HeadsConfig and length_buckets moved out; they stay importable from here.
__all__ = ["HEADS_FORMAT", "HeadsConfig", "ModerationModel", "length_buckets"]

log = logging.getLogger(__name__)

_IMAGE_CHUNK = 32


class ModerationModel:
    """Bias classifier, entailment head and (optional) CLIP behind one object.

    Example::

        model = ModerationModel.load(Settings())
        text = model.encode_texts(["some post"])
        image = model.encode_images([pil_image])
        [scores] = model.score([PostFeatures(text=text[0], images=[image[0]])])
    """

    def __init__(
        self,
        settings: Settings,
        bias: BiasClassifier,
        entailment: EntailmentHead,
        tokenizer: Any,
        image_processor: Any,
        clip: ClipScorer | None,
        heads: HeadsConfig,
        device: torch.device | None = None,
        classifiers: ClassifierGroup | None = None,
    ) -> None:
        self.settings, self.bias, self.entailment, self.clip = settings, bias, entailment, clip
        self.classifiers = classifiers or ClassifierGroup()
        self.tokenizer, self.image_processor, self.heads = tokenizer, image_processor, heads
        self.device = torch.device("cpu")
        self._tokenizer_lock = threading.Lock()
        text_config: Any = bias.text_encoder.config
        positions = int(text_config.max_position_embeddings)
        self.max_text_tokens = min(settings.max_text_tokens, positions)
        self._components = {**_component_hashes(bias, entailment, clip), **self.classifiers.components()}
        self.to(device or self.device)  # after hashing, which reads the weights on the CPU
        self.precision = resolve_precision(settings.precision, self.device)
        graphs = self._graphs()
        #: Each encoder's agreement probe result (None where its backend computes in fp32).
        self.agreement: dict[Encoder, Agreement | None] = {}
        self.backends = self._choose_backends(graphs)
        c = self._components
        self._identity = ModelIdentity(
            text_encoder=ids.model_name(settings.text_encoder, c["text_encoder"]),
            image_encoder=ids.model_name(settings.image_encoder, c["image_encoder"]),
            clip=ids.model_name(settings.clip_model, c["clip"])
            if settings.clip_model and "clip" in c
            else None,
            heads=heads.name,
            weights_sha256=ids.combine_hashes(self._components),
            components=self._components,
            backends=dict(self.backends),
            untrained=untrained_parts(settings, heads),
        )
        self._runners = build_runners(graphs, self.backends, settings.onnx_cache_dir)
        self._log_backends()
        if clip is not None:
            clip.use_runners(self._runners["clip_text"], self._runners["clip_image"])
        self._encoder_ids = self._make_encoder_ids()
        self._add_category_heads()
        self._check_decode_side()

    # --- loading ------------------------------------------------------------------
    @classmethod
    def load(cls, settings: Settings, *, fresh_heads: HeadsConfig | None = None) -> ModerationModel:
        """Load everything named by ``settings``, ready for inference.

        ``fresh_heads`` builds untrained heads as it describes (for training),
        ignoring ``settings.heads``. The category heads in ``settings.category_dir``
        join the classifiers (:mod:`worker.model.category_dir`).
        """
        settings, _ = with_category_dir(settings)
        if settings.torch_threads > 0:
            torch.set_num_threads(settings.torch_threads)
        if fresh_heads is not None:
            heads = fresh_heads
        else:
            heads = HeadsConfig.read(settings.heads) if settings.heads else HeadsConfig()
        tokenizer = load_tokenizer(settings.text_encoder)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # untrained heads are the same in every process
            bias = BiasClassifier.from_pretrained(
                settings.text_encoder,
                settings.image_encoder,
                heads.projection_dim,
                proj_dropout=heads.proj_dropout,
                fusion_dropout=heads.fusion_dropout,
                text_pooling=heads.text_pooling,
            )
            entailment = EntailmentHead(
                heads.projection_dim,
                heads.entailment_dropout,
                heads.entailment_features,
                lexical_trees=heads.lexical_trees,
                lexical_depth=heads.lexical_depth,
                lexical_weight=heads.lexical_weight,
            )
        if settings.heads and fresh_heads is None:
            load_heads(settings.heads, heads, bias, entailment)
        clip = None
        if settings.clip_model:
            clip = ClipScorer.load(settings.clip_model, settings.clip_labels, settings.clip_prompt_template)
        return cls(
            settings,
            bias,
            entailment,
            tokenizer,
            resnet_processor(settings.image_encoder),
            clip,
            heads,
            _pick_device(settings.device),
            ClassifierGroup.load(settings.classifiers),
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

    def _choose_backends(self, graphs: dict[Encoder, EncoderGraph]) -> dict[Encoder, Backend]:
        """Each encoder's first candidate backend that agrees with fp32 on this machine
        (see :mod:`.agreement`); on CUDA, the one candidate, unprobed."""
        candidates = {
            encoder: candidate_backends(
                encoder, getattr(self.settings, f"{encoder}_backend"), self.settings.precision, self.device
            )
            for encoder in graphs
        }
        unproved = any(not computes_in_fp32(found[0]) for found in candidates.values())
        if self.device.type == "cuda" or not unproved:
            self.agreement = dict.fromkeys(candidates)
            return {encoder: found[0] for encoder, found in candidates.items()}
        prober = self._prober(graphs)
        chosen: dict[Encoder, Backend] = {}
        for encoder, found in candidates.items():
            chosen[encoder], self.agreement[encoder] = prober.choose(encoder, found)
        return chosen

    def _prober(self, graphs: dict[Encoder, EncoderGraph]) -> Prober:
        """The probe batch in each encoder's input tensors, and the bias scores it yields."""
        pixels = self.image_processor(images=rgb(probe_images()), return_tensors="pt")["pixel_values"]
        image = pixels.to(input_dtype(self.bias.image_encoder)).contiguous(memory_format=torch.channels_last)
        inputs: dict[Encoder, tuple[Tensor, ...]] = {
            "text": pad(self._token_ids(PROBE_TEXTS), int(self.tokenizer.pad_token_id or 0)),
            "image": (image,),
        }
        if self.clip is not None:
            clip = self.clip
            rows = clip.tokenizer(list(PROBE_TEXTS), truncation=True, max_length=clip.max_tokens)["input_ids"]
            inputs["clip_text"] = pad(rows, int(clip.tokenizer.pad_token_id or 0))
            clip_pixels = clip.image_processor(images=rgb(probe_images()), return_tensors="pt")
            inputs["clip_image"] = (clip_pixels["pixel_values"],)

        def bias_scores(posts: list[PostFeatures]) -> np.ndarray:
            with torch.inference_mode():
                return np.array([s.bias_score for s in score_posts(self.bias, self.entailment, None, posts)])

        def image_scores(rows: np.ndarray) -> np.ndarray:
            texts = prober.reference("text")  # each image beside a probe text's fp32 features
            posts = [PostFeatures(text=texts[i % len(texts)], images=[row]) for i, row in enumerate(rows)]
            return bias_scores(posts)

        heads = {"bias_heads": self._components["bias_heads"]}
        prober = Prober(
            graphs,
            inputs,
            {"text": lambda rows: bias_scores([PostFeatures(text=r) for r in rows]), "image": image_scores},
            {"text": heads, "image": {**heads, "text_encoder": self._components["text_encoder"]}},
            self.settings.onnx_cache_dir,
        )
        return prober

    def _log_backends(self) -> None:
        """One line an audit can compare between hosts: why their scores may differ."""
        described = []
        for encoder, backend in self.backends.items():
            result = self.agreement.get(encoder)
            probe = "fp32" if result is None else result.describe()
            if result is not None and not result.agrees:
                probe += ", DISAGREES"
            described.append(f"{encoder} {backend} ({probe})")
        log.info(
            "CPU instruction sets: %s; encoder backends: %s",
            " ".join(cpu_features()) or "none of avx2/avx512/vnni/bf16/amx",
            "; ".join(described),
        )

    def _graphs(self) -> dict[Encoder, EncoderGraph]:
        c = self._components
        graphs: dict[Encoder, EncoderGraph] = {
            "text": text_graph(self.bias, c["text_encoder"]),
            "image": image_graph(self.bias, c["image_encoder"], input_side(self.image_processor)),
        }
        if self.clip is not None:
            side = input_side(self.clip.image_processor)
            graphs["clip_text"] = clip_text_graph(self.clip.model, c["clip"])
            graphs["clip_image"] = clip_image_graph(self.clip.model, c["clip"], side)
        return graphs

    def encoder_graphs(self) -> dict[Encoder, EncoderGraph]:
        """Each encoder as a module from input tensors to features (on the loaded weights:
        fp32 unless its backend is torch int8 or bf16)."""
        return self._graphs()

    def runner(self, encoder: Encoder) -> Runner:
        """The backend running ``encoder`` (for benchmarks that time it alone)."""
        return self._runners[encoder]

    def _to_device(self, tensor: Tensor, dtype: torch.dtype | None = None) -> Tensor:
        # Pinned host memory lets the copy to the GPU overlap with other work.
        if self.device.type == "cuda":
            tensor = tensor.pin_memory()
        return tensor.to(self.device, dtype=dtype, non_blocking=True)

    def save_heads(
        self,
        folder: Path,
        *,
        name: str,
        thresholds: dict[str, float] | None = None,
        trained: tuple[str, ...] = ("bias", "entailment"),
    ) -> None:
        """Write this model's heads as a checkpoint that :meth:`load` accepts;
        ``trained`` names the heads that were trained (the others never flag)."""
        config = self.heads.model_copy(
            update={
                "name": name,
                "projection_dim": self.bias.projection_dim,
                "text_pooling": self.bias.text_pooling,
                "entailment_features": self.entailment.features,
                "lexical_trees": self.entailment.lexical.trees if self.entailment.lexical else 0,
                "lexical_depth": self.entailment.lexical.depth if self.entailment.lexical else 3,
                "lexical_weight": self.entailment.lexical_weight,
                "thresholds": thresholds or {},
                "trained": tuple(sorted(trained)),
                "encoders": {
                    "text": self._components["text_encoder"],
                    "image": self._components["image_encoder"],
                },
            }
        )
        save_heads(folder, config, self.bias, self.entailment)

    # --- the Scorer protocol --------------------------------------------------------
    @property
    def identity(self) -> ModelIdentity:
        return self._identity

    @property
    def encoder_ids(self) -> dict[str, str]:
        return dict(self._encoder_ids)

    def tokenize(self, text: str) -> tuple[int, ...]:
        return tuple(self._token_ids([text])[0])

    def encode_texts(self, texts: Sequence[str]) -> FloatArray:
        return self.encode_token_ids(self._token_ids(texts))

    def encode_token_ids(self, token_ids: Sequence[Sequence[int]]) -> FloatArray:
        out = np.zeros((len(token_ids), self.bias.text_hidden), dtype=np.float32)
        pad_id = int(self.tokenizer.pad_token_id or 0)
        for chunk, input_ids, mask in padded_groups(token_ids, pad_id):
            with torch.inference_mode(), _model_errors("text encoder"):
                features = self._runners["text"](self._to_device(input_ids), self._to_device(mask))
            out[chunk] = features.float().cpu().numpy()
        return out

    def encode_images(self, images: Sequence[Image.Image]) -> FloatArray:
        out = np.zeros((len(images), self.bias.image_hidden), dtype=np.float32)
        if not images:
            return out
        with _model_errors("image preprocessing"):
            pixels = self.image_processor(images=rgb(images), return_tensors="pt")
        for start in range(0, len(images), _IMAGE_CHUNK):
            batch = self._to_device(
                pixels["pixel_values"][start : start + _IMAGE_CHUNK], input_dtype(self.bias.image_encoder)
            ).contiguous(memory_format=torch.channels_last)
            with torch.inference_mode(), _model_errors("image encoder"):
                features = self._runners["image"](batch)
            out[start : start + len(batch)] = features.float().cpu().numpy()
        return out

    def clip_encode_texts(self, texts: Sequence[str]) -> FloatArray:
        with _model_errors("CLIP text encoder"):
            return _numpy(self._require_clip().encode_texts(texts))

    def clip_encode_images(self, images: Sequence[Image.Image]) -> FloatArray:
        with _model_errors("CLIP image encoder"):
            return _numpy(self._require_clip().encode_images(images))

    def classify(self, kind: str, inputs: Sequence[object]) -> FloatArray:
        with _model_errors(kind):
            return self.classifiers.predict(kind, inputs)

    @property
    def category_names(self) -> set[str]:
        """The categories of the added classifiers and heads (the built-in ones aside)."""
        return self.classifiers.category_names | self.category_heads.category_names

    def _add_category_heads(self) -> None:
        # They check the features they read against this model's encoder ids, known only now.
        self.category_heads = CategoryHeads.load(self.settings.classifiers, self._encoder_ids)
        if self.category_heads.heads:
            self._components.update(self.category_heads.components())
            weights = ids.combine_hashes(self._components)
            self._identity = self._identity.model_copy(
                update={"components": dict(self._components), "weights_sha256": weights}
            )

    def score(self, posts: Sequence[PostFeatures]) -> list[PostScores]:
        if not posts:
            return []
        with torch.inference_mode(), _model_errors("heads"):
            scores = score_posts(self.bias, self.entailment, self.clip, posts)
        heads = self.category_heads.categories(posts)
        return [
            replace(found, categories={**found.categories, **self.classifiers.categories(post), **extra})
            for found, post, extra in zip(scores, posts, heads, strict=True)
        ]

    # --- helpers ------------------------------------------------------------------
    def _token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        if not texts:
            return []
        # A Rust tokenizer called from two threads at once can fail with
        # "Already borrowed" (it stores the truncation setting), hence the lock.
        shown = [encoder_text(text, self.heads.text_links) for text in texts]
        with self._tokenizer_lock:
            encoded = self.tokenizer(shown, truncation=True, max_length=self.max_text_tokens)
        return [list(ids_) for ids_ in encoded["input_ids"]]

    def _require_clip(self) -> ClipScorer:
        if self.clip is None:
            raise ModelError("CLIP is disabled (settings.clip_model is empty)")
        return self.clip

    @property
    def image_input_side(self) -> int:
        """The largest side, in pixels, that the image encoders take their input at."""
        sides = [input_side(self.image_processor)]
        if self.clip is not None:
            sides.append(input_side(self.clip.image_processor))
        return max(sides)

    def _check_decode_side(self) -> None:
        wanted, side = self.settings.decode_min_side, self.image_input_side
        if 0 < wanted < side:
            log.warning(
                "decode_min_side is %d but the image encoders take %d-pixel inputs: JPEGs will be "
                "decoded smaller than the models want and scaled up; set MODERATION_DECODE_MIN_SIDE=%d",
                wanted,
                side,
                side,
            )

    def _make_encoder_ids(self) -> dict[str, str]:
        # How JPEGs are decoded changes the pixels, so it is part of every image id.
        decode = {"decode_min_side": self.settings.decode_min_side}
        tokenizer_sha = ids.text_sha256([self.tokenizer.backend_tokenizer.to_str()])
        # Only a change from the original "keep" enters the id, so existing caches stay valid.
        links = {"links": self.heads.text_links} if self.heads.text_links != "keep" else {}
        result = {
            "text": ids.short_id(
                self._components["text_encoder"],
                {
                    "tokenizer": tokenizer_sha,
                    "max_tokens": self.max_text_tokens,
                    "feature": self.bias.text_pooling,
                    **_numerics(self.backends["text"]),
                    **links,
                },
            ),
            "image": ids.short_id(
                self._components["image_encoder"],
                {
                    "processor": self.image_processor.to_dict(),
                    **decode,
                    "feature": "spatial-mean",
                    **_numerics(self.backends["image"]),
                    "dtype": str(input_dtype(self.bias.image_encoder)),
                },
            ),
        }
        if self.clip is not None:
            clip_sha = self._components["clip"]
            text = {**self.clip.preprocessing("text"), **_numerics(self.backends["clip_text"])}
            image = {**self.clip.preprocessing("image"), **_numerics(self.backends["clip_image"]), **decode}
            result["clip_text"] = ids.short_id(clip_sha, text)
            result["clip_image"] = ids.short_id(clip_sha, image)
        return {**result, **self.classifiers.encoder_ids(ids.short_id)}


# --- helpers ----------------------------------------------------------------------
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


def _numerics(backend: Backend) -> dict[str, str]:
    """What a cache id records of the backend. The torch fp32, int8 and fp16 backends
    compute what the precision setting of the same name did before backends existed,
    so they keep its ids (and the caches filled under them)."""
    earlier = {"torch-fp32": "fp32", "torch-int8": "int8", "torch-fp16": "fp16"}
    if backend in earlier:
        return {"precision": earlier[backend]}
    if backend == "ort-int8":
        return {"backend": backend, "quantized": int8_recipe()}
    return {"backend": backend}


def _pick_device(wanted: str) -> torch.device:
    if wanted in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    if wanted == "cuda":
        log.warning("MODERATION_DEVICE=cuda but CUDA is not available; running on CPU")
    return torch.device("cpu")


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
