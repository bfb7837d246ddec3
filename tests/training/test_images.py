"""Training images: local files first; an unreachable host is given up on, and masked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from moderation_lab.embedded.ports import free_port

from worker.config.settings import Settings
from worker.training.data import ImageRef
from worker.training.images import load_images

MakeSettings = Callable[..., Settings]


def test_local_file_is_read(image_file: Path, make_settings: MakeSettings) -> None:
    found = load_images([ImageRef(path=image_file), ImageRef(path=image_file), ImageRef()], make_settings())
    assert list(found.images) == [str(image_file)]  # duplicates once, empty refs ignored
    assert found.images[str(image_file)].image.size == (40, 30)
    assert found.summary() == "1/1 images usable"


def test_unreachable_host_is_given_up_and_masked(make_settings: MakeSettings) -> None:
    port = free_port()  # nobody listens: every connection is refused
    refs = [ImageRef(url=f"http://127.0.0.1:{port}/{i}.jpg") for i in range(30)]
    found = load_images(refs, make_settings(allow_private_hosts=True))
    assert not found.images
    assert found.failures.total() == 30
    assert found.hosts_given_up == {"127.0.0.1"}
    assert found.summary().endswith("TEXT ONLY")


def test_images_can_be_left_out(make_settings: MakeSettings, image_file: Path) -> None:
    refs = [ImageRef(url="https://img.example.org/a.jpg"), ImageRef(path=image_file)]
    found = load_images(refs, make_settings(), fetch=False)
    assert list(found.images) == [str(image_file)]
    assert found.failures == {"not fetched (--no-images)": 1}
