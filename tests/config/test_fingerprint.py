"""Verdicts carry a hash of the settings that affect their scores and labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.fakes import IDENTITY
from tests.test_pipeline import post, run
from worker.config.classifiers import ClassifierSpec
from worker.config.fingerprint import SCORE_SETTINGS, identity_with_settings, score_settings, settings_sha256
from worker.config.settings import Settings


def test_the_hash_is_stable_and_follows_only_score_settings() -> None:
    base = Settings()
    assert settings_sha256(base) == settings_sha256(Settings())
    assert len(settings_sha256(base)) == 64
    for changed in (
        Settings(bias_threshold=0.7),
        Settings(clip_labels=("a", "b"), clip_flag_labels=("a",)),
        Settings(max_text_tokens=128),
        Settings(heads=Path("heads")),
        Settings(text_encoder="other"),
    ):
        assert settings_sha256(changed) != settings_sha256(base)
    for same in (Settings(verdicts_topic="x", max_batch=3, cache_enabled=False), Settings(device="cpu")):
        assert settings_sha256(same) == settings_sha256(base)


#: Settings that change when or how a verdict is written, or how fast, not what it says.
#: A new setting must be put here or in SCORE_SETTINGS (the test below says which).
NOT_SCORE = {
    # Kafka, topics, delivery and the consumer group
    *("broker", "group_id", "group_instance_id", "auto_offset_reset", "posts_topic"),
    *("verdicts_topic", "flagged_topic", "dlq_topic", "topic_partitions", "topic_replicas"),
    *("session_timeout_s", "heartbeat_interval_s", "rebalance_timeout_s", "consumer_fetch_max_wait_ms"),
    *("processing_guarantee", "transaction_max_records", "commit_interval_s", "max_message_bytes"),
    *("dlq_max_original_bytes", "kafka_security_protocol", "kafka_sasl_mechanism"),
    *("kafka_sasl_username", "kafka_sasl_password", "kafka_ssl_cafile", "kafka_ssl_certfile"),
    "kafka_ssl_keyfile",
    # the cache and how long a reference is waited for
    *("redis_url", "redis_cluster", "redis_password", "redis_ssl_cafile", "cache_enabled"),
    *("redis_prefix", "embedding_ttl_s", "post_ttl_s", "image_url_ttl_s", "redis_timeout_s"),
    "reference_wait_ms",
    # fetching: timeouts and concurrency (the URL policy refuses the same URLs whatever they are)
    *("fetch_connect_timeout_s", "fetch_read_timeout_s", "fetch_total_timeout_s", "fetch_concurrency"),
    *("fetch_per_host", "fetch_max_redirects", "allow_private_hosts", "allow_private_endpoints"),
    # speed: where and how the same weights run; they move scores a little, not what was
    # configured (the verdict's model.backends says which backend ran)
    *("decode_min_side", "device", "precision", "text_backend", "image_backend"),
    *("clip_text_backend", "clip_image_backend", "onnx_cache_dir", "torch_threads"),
    *("max_batch", "max_wait_ms", "max_batch_tokens", "max_inflight_posts", "gc_freeze"),
    # hash banks come and go without a restart; each match names its bank in the verdict
    *("known_banks", "known_reload_s"),
    # where the trained category heads lie; the heads themselves are hashed by the model
    # (model.components, weights_sha256), as the heads of `classifiers` are
    "category_dir",
    # explanations: which categories are explained and how finely; never a score or a flag
    # (each explanation names its method and the passes it cost)
    *("explain_categories", "explain_span_text", "explain_top_k", "explain_max_words"),
    *("explain_image_grid", "explain_max_batch"),
    # the shadow model has its own settings and its own hash
    *("shadow_model_dir", "shadow_settings", "shadow_topic"),
    *("web_host", "web_port", "health_interval_s", "log_level", "log_format"),
}


def test_every_setting_is_either_hashed_or_named_as_not_changing_scores() -> None:
    fields = set(Settings.model_fields)
    assert fields - NOT_SCORE == set(SCORE_SETTINGS)
    assert not NOT_SCORE & set(SCORE_SETTINGS) and fields >= NOT_SCORE


def test_the_added_classifiers_and_their_label_maps_change_the_hash() -> None:
    hf = ClassifierSpec(kind="hf", source="org/toxicity", labels={"toxic": "toxicity"})
    base = settings_sha256(Settings(classifiers=(hf,)))
    assert base != settings_sha256(Settings())
    for other in (
        ClassifierSpec(kind="hf", source="org/toxicity", labels={"toxic": "hate"}),
        ClassifierSpec(kind="hf", source="org/toxicity", labels={"toxic": "toxicity", "insult": "toxicity"}),
        ClassifierSpec(kind="hf", source="org/other", labels={"toxic": "toxicity"}),
    ):
        assert settings_sha256(Settings(classifiers=(other,))) != base, other
    assert settings_sha256(Settings(classifiers=(hf, ClassifierSpec(kind="nsfw")))) != base
    assert score_settings(Settings(classifiers=(hf,)))["classifiers"] == [
        {**hf.model_dump(mode="json"), "source": "org/toxicity"}
    ]


def test_every_hashed_setting_exists_and_is_plain_json() -> None:
    values = score_settings(Settings(heads=Path("h")))
    assert set(values) == {"version", "text_normaliser", *SCORE_SETTINGS}
    assert values["heads"] == "h" and values["clip_labels"] == list(Settings().clip_labels)


def test_the_identity_keeps_its_weights_and_gains_the_hash() -> None:
    stamped = identity_with_settings(IDENTITY, Settings())
    assert stamped.weights_sha256 == IDENTITY.weights_sha256
    assert stamped.settings_sha256 == settings_sha256(Settings())
    assert IDENTITY.settings_sha256 is None


async def test_live_verdicts_carry_the_hash_of_the_pipeline_settings() -> None:
    publisher, _, pipeline = await run([post("p1")])
    [verdict] = publisher.on("verdicts")
    assert verdict["model"]["settings_sha256"] == settings_sha256(pipeline.settings)


def test_a_model_folder_hashes_by_content_not_by_its_spelling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / ".models" / "text"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"hidden_size": 32}')
    (folder / "model.safetensors").write_bytes(b"weights, hashed in weights_sha256")
    spellings = [".models/text", "./.models/text", str(folder), f"{folder}/"]
    hashes = {settings_sha256(Settings(text_encoder=name)) for name in spellings}
    assert len(hashes) == 1
    copy = tmp_path / "elsewhere"
    copy.mkdir()
    (copy / "config.json").write_text('{"hidden_size": 32}')
    assert settings_sha256(Settings(text_encoder=str(copy))) in hashes  # another host, same content
    (copy / "config.json").write_text('{"hidden_size": 64}')
    assert settings_sha256(Settings(text_encoder=str(copy))) not in hashes
    assert score_settings(Settings(text_encoder="bert-base-uncased"))["text_encoder"] == "bert-base-uncased"
