"""CLIP embeddings, image-text similarity and zero-shot labels.

Any ``CLIPModel`` checkpoint (Hub id or folder) with its processor works. Texts
are truncated to the model's positions (77 for the OpenAI models); both towers'
embeddings are L2-normalised, so a dot product is a cosine. The zero-shot
prompts are embedded once, at load.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from transformers import AutoProcessor, CLIPModel

from worker.errors import ModelError
from worker.model.checkpoint import from_pretrained
from worker.model.identity import text_sha256
from worker.model.precision import input_dtype
from worker.model.preprocess import padded_groups
from worker.model.types import FloatArray, PostFeatures

__all__ = ["ClipPostScores", "ClipScorer"]

#: (cosine of the text with each image, label -> best zero-shot probability)
ClipPostScores = tuple[list[float], dict[str, float] | None]


class ClipScorer:
    """Normalised CLIP embeddings plus zero-shot scoring over fixed labels.

    Example::

        clip = ClipScorer.load("openai/clip-vit-base-patch16", ["weapons", "a cat"])
        images = clip.encode_images([pil_image])          # [1, D], unit norm
        clip.zero_shot(images)                            # [1, 2], rows sum to 1
        clip.similarity(clip.encode_texts(["a cat"]), images)
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        image_processor: Any,
        *,
        labels: Sequence[str],
        prompt_template: str = "a photo of {}",
    ) -> None:
        if "{}" not in prompt_template:
            raise ModelError(f"CLIP prompt template {prompt_template!r} has no '{{}}'")
        # Any: transformers' CLIPModel methods are only partly annotated.
        self.model: Any = model.eval()
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.labels = tuple(labels)
        self.prompt_template = prompt_template
        self.max_tokens = int(self.model.config.text_config.max_position_embeddings)
        self._tokenizer_lock = threading.Lock()
        self._text_features: Callable[[Tensor, Tensor], Tensor] = self._torch_text
        self._image_features: Callable[[Tensor], Tensor] = self._torch_image
        self._prompts = self.encode_texts([prompt_template.format(label) for label in labels])

    @classmethod
    def load(
        cls, id_or_path: str, labels: Sequence[str], prompt_template: str = "a photo of {}"
    ) -> ClipScorer:
        """CLIP model and processor from a Hub id or a folder."""
        try:
            model = from_pretrained(CLIPModel, id_or_path)
            processor = AutoProcessor.from_pretrained(id_or_path)  # type: ignore[no-untyped-call]
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise ModelError(f"cannot load CLIP model {id_or_path!r}: {exc}") from exc
        return cls(
            model,
            processor.tokenizer,
            processor.image_processor,
            labels=labels,
            prompt_template=prompt_template,
        )

    @property
    def dim(self) -> int:
        """Size of the shared embedding space."""
        return int(self.model.config.projection_dim)

    @property
    def device(self) -> torch.device:
        device: torch.device = next(self.model.parameters()).device
        return device

    def to(self, device: torch.device) -> ClipScorer:
        self.model.to(device)
        self._prompts = self._prompts.to(device)
        return self

    def use_runners(
        self, text: Callable[[Tensor, Tensor], Tensor], image: Callable[[Tensor], Tensor]
    ) -> None:
        """Compute embeddings with these (see :mod:`.runners`) instead of the model itself.
        The zero-shot prompts stay as encoded at load, in fp32."""
        self._text_features, self._image_features = text, image

    def _torch_text(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        with torch.inference_mode():
            return _features(self.model.get_text_features(input_ids=input_ids, attention_mask=attention_mask))

    def _torch_image(self, pixels: Tensor) -> Tensor:
        with torch.inference_mode():
            return _features(
                self.model.get_image_features(pixel_values=pixels.to(dtype=input_dtype(self.model)))
            )

    def preprocessing(self, tower: Literal["text", "image"]) -> dict[str, object]:
        """What besides the weights decides a tower's embeddings (for cache ids)."""
        if tower == "text":
            tokenizer = text_sha256([self.tokenizer.backend_tokenizer.to_str()])
            return {"tower": tower, "tokenizer": tokenizer, "max_tokens": self.max_tokens}
        return {"tower": tower, "processor": self.image_processor.to_dict()}

    def encode_texts(self, texts: Sequence[str]) -> Tensor:
        """[N, D] unit-norm text embeddings; texts longer than the model allows are cut."""
        if not texts:
            return torch.zeros((0, self.dim), device=self.device)
        with self._tokenizer_lock:  # see ModerationModel._token_ids
            rows = self.tokenizer(list(texts), truncation=True, max_length=self.max_tokens)["input_ids"]
        # Grouped by length as the bias text encoder's are; the pad token right of each
        # row, as the tokenizer pads, so the pooled end-of-text token is the row's own.
        pad_id = int(self.tokenizer.pad_token_id or 0)
        out = torch.zeros((len(rows), self.dim), device=self.device)
        for group, input_ids, mask in padded_groups(rows, pad_id):
            features = self._text_features(input_ids.to(self.device), mask.to(self.device))
            out[group] = features.to(out.dtype)
        return _unit(out)

    def encode_images(self, images: Sequence[Image.Image]) -> Tensor:
        """[M, D] unit-norm image embeddings."""
        if not images:
            return torch.zeros((0, self.dim), device=self.device)
        rgb = [image if image.mode == "RGB" else image.convert("RGB") for image in images]
        pixels = self.image_processor(images=rgb, return_tensors="pt")["pixel_values"]
        return _unit(self._image_features(pixels.to(self.device, non_blocking=True)))

    def zero_shot(self, image_embs: Tensor) -> Tensor:
        """[M, L] probabilities over :attr:`labels` for unit-norm image embeddings."""
        with torch.inference_mode():
            scale = self.model.logit_scale.exp()
            logits = scale * image_embs.to(self._prompts) @ self._prompts.T
            return torch.softmax(logits, dim=-1)

    @staticmethod
    def similarity(text_embs: Tensor, image_embs: Tensor) -> Tensor:
        """[N, M] cosine similarities (inputs are re-normalised, so any scale works)."""
        return _unit(text_embs) @ _unit(image_embs).T

    def post_scores(self, posts: Sequence[PostFeatures]) -> list[ClipPostScores]:
        """Per post: the text's cosine with each image, and each label's highest
        zero-shot probability over the images (``([], None)`` without images)."""
        with torch.inference_mode():
            image_embs = [self._stack(p.clip_images) for p in posts]
            flat = torch.cat(image_embs)
            probs = self.zero_shot(flat) if len(flat) else flat
            result: list[ClipPostScores] = []
            start = 0
            for post, images in zip(posts, image_embs, strict=True):
                if not len(images):
                    result.append(([], None))
                    continue
                best = probs[start : start + len(images)].max(dim=0).values.tolist()
                start += len(images)
                similarity: list[float] = []
                if post.clip_text is not None:
                    text = self._stack([post.clip_text])
                    similarity = [float(s) for s in self.similarity(text, images)[0].tolist()]
                result.append((similarity, dict(zip(self.labels, best, strict=True))))
            return result

    def _stack(self, rows: Sequence[FloatArray]) -> Tensor:
        """[k, D] tensor on the model's device from (cached) numpy embeddings."""
        arrays = [np.asarray(row, dtype=np.float32) for row in rows]
        for array in arrays:
            if array.shape != (self.dim,):
                raise ModelError(
                    f"CLIP embedding has shape {array.shape}, expected ({self.dim},): "
                    "computed by another model?"
                )
        if not arrays:
            return torch.zeros((0, self.dim), device=self.device)
        return torch.from_numpy(np.stack(arrays)).to(self.device)


def _features(output: Any) -> Tensor:
    # transformers 5 returns an output object whose pooler_output is the
    # projected embedding; 4.x returned the tensor itself.
    features: Tensor = output if isinstance(output, Tensor) else output.pooler_output
    return features


def _unit(features: Tensor) -> Tensor:
    return torch.nn.functional.normalize(features.float(), dim=-1)
