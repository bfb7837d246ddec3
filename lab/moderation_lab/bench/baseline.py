"""The baseline: the same models run the way their model cards show them.

One post at a time; text tokenized with ``padding="max_length", max_length=512``;
the image resized to 224 and normalised with torchvision transforms; the bias model's
full forward; for a post with a reference, the reference encoded the same way and the
entailment head over both; CLIP called like its card (processor with the post text
and the zero-shot prompts plus the image, then ``model(**inputs)``); fp32; no cache.

Example::

    loop = SeedLoop(paths, prompts)
    loop.run(posts[0], images)  # warm-up
    rate = seed_pass(loop, posts, images)
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from moderation_lab.bench.data import BenchPost
from worker.model import compat
from worker.model.bias import BiasClassifier
from worker.model.entailment import EntailmentHead

__all__ = ["SeedLoop", "seed_pass"]


def _card_transform() -> Any:
    compat.ensure_torchvision_importable()
    from torchvision import transforms

    return transforms.Compose(
        [
            transforms.Resize((224, 224)),
            transforms.ToTensor(),
            transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
        ]
    )


class SeedLoop:
    """The model cards' code paths, held once so only inference is timed."""

    def __init__(self, paths: Mapping[str, Path], prompts: Sequence[str]) -> None:
        import transformers

        hf: Any = transformers
        self.tokenizer = hf.AutoTokenizer.from_pretrained(paths["text"])
        self.bias = BiasClassifier.from_pretrained(str(paths["text"]), str(paths["image"])).eval()
        self.entailment = EntailmentHead(768).eval()
        self.clip = hf.CLIPModel.from_pretrained(paths["clip"]).eval()
        self.processor = hf.CLIPProcessor.from_pretrained(paths["clip"])
        self.transform = _card_transform()
        self.prompts = list(prompts)

    def _encode(self, text: str, image: Image.Image | None) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = self.tokenizer(
            text, padding="max_length", truncation=True, max_length=512, return_tensors="pt"
        )
        text_proj = self.bias.project_text(
            self.bias.encode_text(tokens["input_ids"], tokens["attention_mask"])
        )
        if image is None:
            return text_proj, torch.zeros_like(text_proj)
        pixels = self.transform(image.convert("RGB")).unsqueeze(0)
        return text_proj, self.bias.project_image(self.bias.encode_image(pixels))

    def run(self, post: BenchPost, images: Mapping[str, Image.Image]) -> None:
        image = images[post.image_path] if post.image_path else None
        with torch.no_grad():
            text_proj, image_proj = self._encode(post.text, image)
            torch.sigmoid(self.bias.fuse_and_classify(text_proj, image_proj))
            if post.reference is not None:
                _, ref_text, ref_image_path = post.reference
                ref_image = images[ref_image_path] if ref_image_path else None
                ref_text_proj, ref_image_proj = self._encode(ref_text, ref_image)
                present = torch.tensor([[1.0, float(ref_image is not None), 1.0, float(image is not None)]])
                self.entailment(ref_text_proj, ref_image_proj, text_proj, image_proj, present).softmax(-1)
            if image is not None:
                inputs = self.processor(
                    text=[post.text, *self.prompts],
                    images=image,
                    return_tensors="pt",
                    padding=True,
                    truncation=True,
                )
                self.clip(**inputs).logits_per_image.softmax(dim=1)


def seed_pass(loop: SeedLoop, posts: Sequence[BenchPost], images: Mapping[str, Image.Image]) -> float:
    """Posts per second of one pass of ``loop`` over ``posts``."""
    started = time.perf_counter()
    for post in posts:
        loop.run(post, images)
    return len(posts) / (time.perf_counter() - started)
