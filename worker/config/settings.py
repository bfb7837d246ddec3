"""The worker's settings: one frozen class, read from the environment in one place.

Every field is read from ``MODERATION_<FIELD NAME IN UPPER CASE>`` (the name is
derived, never typed: :meth:`Settings.env_name`); lists are given as JSON
(``MODERATION_CLIP_LABELS='["a", "b"]'``). :func:`load_settings` refuses a
``MODERATION_`` variable that names no setting, and turns every problem into one
line. Components receive typed views (:mod:`worker.config.views`). The configuration
table in ``docs/configuration.md`` is generated from this class.

Example::

    settings = load_settings()                     # from the environment; ConfigError if wrong
    settings = Settings(max_batch=8, bias_threshold=0.7)   # explicit, for tests
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, get_origin

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from worker import names
from worker.config.classifiers import ClassifierSpec
from worker.config.policy import CategoryRule
from worker.config.views import ExplainConfig, FetchConfig, view_of
from worker.errors import ConfigError
from worker.fetch.url_policy import parse_endpoint

__all__ = ["ENV_PREFIX", "Settings", "load_settings", "unknown_variables"]

ENV_PREFIX = "MODERATION_"
#: Backends an encoder may run on (see worker.model.backends).
EncoderBackend = Literal["auto", "torch-fp32", "torch-int8", "torch-bf16", "ort-fp32", "ort-int8"]

DEFAULT_CLIP_LABELS = (
    "violence or gore",
    "a hateful symbol or meme",
    "sexually explicit content",
    "weapons",
    "an ordinary everyday photo",
)


class Settings(BaseSettings):
    """All configuration of the worker. Immutable once built."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="forbid", validate_default=True
    )

    # --- Kafka ----------------------------------------------------------------
    broker: str = Field(
        "kafka://localhost:9092",
        description="Kafka bootstrap servers, `kafka://host:port[;host:port]`.",
    )
    group_id: str = Field(
        "moderation-worker",
        description="Consumer group and faust app id shared by all workers.",
    )
    group_instance_id: str | None = Field(
        None,
        description=(
            "Static group membership: a name stable across restarts of this one worker (a "
            "StatefulSet pod name); a restarted worker takes its partitions back without a "
            "rebalance."
        ),
    )
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        "earliest",
        description=(
            "Where a consumer group with no committed offset starts: every retained post, "
            "or only posts that arrive from now on."
        ),
    )
    posts_topic: str = Field(names.DEFAULT_POSTS_TOPIC, description="Input topic of posts.")
    verdicts_topic: str = Field(
        names.DEFAULT_VERDICTS_TOPIC,
        description="Topic receiving every verdict.",
    )
    flagged_topic: str = Field(
        names.DEFAULT_FLAGGED_TOPIC,
        description="Topic also receiving flagged verdicts.",
    )
    dlq_topic: str = Field(
        names.DEFAULT_DLQ_TOPIC,
        description="Dead-letter topic for unprocessable posts.",
    )
    topic_partitions: int = Field(8, ge=1, description="Partitions for topics the worker creates.")
    topic_replicas: int = Field(1, ge=1, description="Replication factor for topics it creates.")
    session_timeout_s: float = Field(30.0, gt=0, description="Consumer group session timeout.")
    heartbeat_interval_s: float = Field(3.0, gt=0, description="Consumer heartbeat interval.")
    rebalance_timeout_s: float = Field(60.0, gt=0, description="Consumer group rebalance timeout.")
    consumer_fetch_max_wait_ms: int = Field(
        500,
        ge=0,
        le=60_000,
        description=(
            "Longest the broker may hold a fetch that finds no new record; Kafka answers "
            "as soon as one arrives."
        ),
    )
    processing_guarantee: Literal["at_least_once", "exactly_once"] = Field(
        "at_least_once",
        description=(
            "at_least_once publishes each answer at once (a crash may repeat some); "
            "exactly_once commits answers and consumed offsets in one Kafka transaction per "
            "partition, every commit interval, for read_committed consumers."
        ),
    )
    transaction_max_records: int = Field(
        1000,
        ge=1,
        description=(
            "Under exactly_once, commit a partition's transaction early once this many "
            "answered records wait in it."
        ),
    )
    commit_interval_s: float = Field(1.0, gt=0, description="How often acknowledged offsets are committed.")
    max_message_bytes: int = Field(
        1_048_576,
        ge=1024,
        description="Posts larger than this go to the dead-letter topic.",
    )
    dlq_max_original_bytes: int = Field(
        262_144,
        ge=0,
        description=("Original bytes kept in a dead letter; longer ones are cut and marked."),
    )

    # --- Kafka security -------------------------------------------------------
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How to reach Kafka."
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "PLAIN", description="SASL mechanism for SASL_* protocols."
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password.")
    kafka_ssl_cafile: Path | None = Field(None, description="CA bundle to verify the brokers.")
    kafka_ssl_certfile: Path | None = Field(None, description="Client certificate for mutual TLS.")
    kafka_ssl_keyfile: Path | None = Field(None, description="Client key for mutual TLS.")

    # --- Redis ----------------------------------------------------------------
    redis_url: SecretStr = Field(
        SecretStr("redis://localhost:6379/0"),
        description="Redis URL for the embedding cache and seen posts.",
    )
    redis_cluster: bool = Field(False, description="The Redis URL names a node of a Redis Cluster.")
    redis_password: SecretStr | None = Field(None, description="Redis password, if not in the URL.")
    redis_ssl_cafile: Path | None = Field(None, description="CA bundle for rediss:// URLs.")
    cache_enabled: bool = Field(True, description="Use Redis for embeddings and referenced posts.")
    redis_prefix: str = Field("mw", description="Prefix of every Redis key the worker writes.")
    embedding_ttl_s: int = Field(7 * 86400, ge=1, description="Lifetime of a cached embedding.")
    post_ttl_s: int = Field(
        7 * 86400,
        ge=1,
        description="How long a seen post can be referenced by id.",
    )
    image_url_ttl_s: int = Field(
        86400,
        ge=0,
        description=(
            "How long what an image URL served is remembered, so a reused image whose "
            "embeddings are cached is not fetched again; 0 = always fetch."
        ),
    )
    redis_timeout_s: float = Field(1.0, gt=0, description="Timeout of one Redis call.")
    reference_wait_ms: float = Field(
        1000.0,
        ge=0,
        description=("How long a post waits for a post it references by id to arrive."),
    )

    # --- Image fetching -------------------------------------------------------
    fetch_connect_timeout_s: float = Field(2.0, gt=0, description="Connect timeout per image.")
    fetch_read_timeout_s: float = Field(5.0, gt=0, description="Read timeout between bytes.")
    fetch_total_timeout_s: float = Field(10.0, gt=0, description="Deadline for a whole image fetch.")
    fetch_max_bytes: int = Field(
        10 * 1024 * 1024,
        ge=1024,
        description="Largest image body accepted, checked while streaming.",
    )
    fetch_concurrency: int = Field(32, ge=1, description="Image fetches in flight at once.")
    fetch_per_host: int = Field(8, ge=1, description="Image fetches in flight per host.")
    fetch_max_redirects: int = Field(3, ge=0, description="Redirects followed per image.")
    allow_private_hosts: bool = Field(
        False,
        description=("Allow image URLs on loopback/private addresses; tests and demo only."),
    )
    allow_private_endpoints: tuple[str, ...] = Field(
        (),
        description=(
            "Exact non-public `address:port` endpoints image URLs may still reach, JSON list; "
            "tests and demo only."
        ),
    )
    max_image_pixels: int = Field(
        40_000_000,
        ge=1,
        description="Images with more pixels are refused before decoding.",
    )
    decode_min_side: int = Field(
        224,
        ge=0,
        description=(
            "JPEGs decode at the smallest 1/2, 1/4 or 1/8 scale whose sides both stay at or above "
            "this many pixels, about 5x cheaper than a full decode; keep it at or above the image "
            "encoders' input side (224 for ResNet-34 and CLIP ViT-B/16); 0 decodes in full."
        ),
    )

    # --- Models ---------------------------------------------------------------
    text_encoder: str = Field(
        "bert-base-uncased",
        description="Hub id or folder of the text encoder and its tokenizer.",
    )
    image_encoder: str = Field(
        "microsoft/resnet-34",
        description="Hub id or folder of the image encoder and its processor.",
    )
    clip_model: str = Field(
        "openai/clip-vit-base-patch16",
        description="Hub id or folder of the CLIP model; empty disables CLIP.",
    )
    heads: Path | None = Field(
        None,
        description="Folder with the heads' checkpoint; unset means untrained heads.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Where models run; auto picks CUDA when present."
    )
    precision: Literal["auto", "fp32", "fp16", "int8"] = Field(
        "auto",
        description=(
            "Encoder precision: auto = fp16 on CUDA, on CPU each encoder's backend decides; "
            "fp32 or int8 (dynamic quantization on CPU) sets every backend left at auto."
        ),
    )
    text_backend: EncoderBackend = Field(
        "auto", description="What runs the text encoder: auto, torch-fp32/int8/bf16 or ort-fp32/int8."
    )
    image_backend: EncoderBackend = Field("auto", description="What runs the image encoder (as above).")
    clip_text_backend: EncoderBackend = Field("auto", description="What runs CLIP's text tower (as above).")
    clip_image_backend: EncoderBackend = Field("auto", description="What runs CLIP's image tower (as above).")
    onnx_cache_dir: Path = Field(
        Path("~/.cache/moderation-worker/onnx"),
        description="Folder of the ONNX files exported from the loaded weights, named by their sha256.",
    )
    torch_threads: int = Field(0, ge=0, description="CPU threads for inference, 0 = torch's default.")
    max_text_tokens: int = Field(512, ge=8, description="Texts are truncated to this many tokens.")
    text_window_chars: int = Field(
        1000,
        ge=64,
        description="Longer texts are scored in windows of this many characters, the highest deciding "
        "(keep a window within max_text_tokens).",
    )
    text_window_overlap_chars: int = Field(
        100, ge=0, description="Characters successive text windows share (below text_window_chars)."
    )
    text_bound_chars: int = Field(
        50_000,
        ge=64,
        description="How far into a text windows reach; beyond it nothing is scored and the verdict says so.",
    )
    clip_labels: tuple[str, ...] = Field(
        DEFAULT_CLIP_LABELS,
        min_length=2,
        description="Zero-shot labels scored by CLIP, JSON list.",
    )
    clip_prompt_template: str = Field(
        "a photo of {}",
        description="Prompt built from each zero-shot label.",
    )

    # --- Decisions ------------------------------------------------------------
    bias_threshold: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Bias score at or above which a post is biased.",
    )
    contradiction_threshold: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Contradictory probability that flags a post.",
    )
    clip_flag_labels: tuple[str, ...] = Field(
        DEFAULT_CLIP_LABELS[:4],
        description="Zero-shot labels that flag once clip_flag_threshold is set, JSON list.",
    )
    clip_flag_threshold: float | None = Field(
        None,
        ge=0,
        le=1,
        description=(
            "Zero-shot probability at which the flag labels flag; unset = CLIP labels only score "
            "until a threshold measured on your data is chosen (docs/categories.md)."
        ),
    )

    # --- Known content (hash banks) ---------------------------------------------
    known_banks: Path | None = Field(
        None,
        description=(
            "Folder of hash banks with its banks.json (docs/known-content.md); unset = every "
            "image is hashed but matched against nothing."
        ),
    )
    known_match_threshold: int = Field(
        31,
        ge=0,
        le=128,
        description=("Largest PDQ Hamming distance counted as a match; 31 is PDQ's authors' advice."),
    )
    known_min_quality: int = Field(
        50,
        ge=0,
        le=100,
        description=("Images whose PDQ quality is lower (flat, textureless) are not matched."),
    )
    known_reload_s: float = Field(
        10.0,
        gt=0,
        description="How often the bank files are checked for changes.",
    )
    # --- Categories -------------------------------------------------------------
    category_dir: Path | None = Field(
        None,
        description=(
            "Folder of trained category heads, one sub-folder each (train category --out); each is "
            "loaded as a head classifier. Empty: the worker runs without them and says so (log, /readyz)."
        ),
    )
    classifiers: tuple[ClassifierSpec, ...] = Field(
        (),
        description=(
            'Added classifiers, JSON list: [{"kind": "nsfw"}, {"kind": "head", "source": ".models/hate"}]; '
            "see docs/categories.md."
        ),
    )
    policy: dict[str, CategoryRule] = Field(
        default_factory=dict,
        description=(
            'Per category, JSON: {"hate": {"threshold": 0.6}, "offensive": {"flag": false}}; over the '
            "thresholds above, see docs/categories.md."
        ),
    )
    # --- Explanations -----------------------------------------------------------
    explain_categories: Literal["flagged", "scored", "off"] = Field(
        "flagged",
        description=(
            "Which categories a verdict explains (the words, image regions behind the score): "
            "flagged (those that flagged the post), scored (every scored category), off."
        ),
    )
    explain_span_text: bool = Field(
        False,
        description="Copy each explained span's text into the verdict (off: offsets only).",
    )
    explain_top_k: int = Field(5, ge=1, le=50, description="Spans per explained category, strongest first.")
    explain_max_words: int = Field(
        48,
        ge=1,
        le=512,
        description="Occlusion: at most this many units a post (longer posts: neighbouring words joined).",
    )
    explain_image_grid: int = Field(
        4, ge=1, le=16, description="Image occlusion grid side: an image costs grid x grid + 1 passes."
    )
    explain_max_batch: int = Field(
        64, ge=1, description="Most texts or images an explanation sends to a classifier in one call."
    )

    # --- Batching -------------------------------------------------------------
    max_batch: int = Field(
        8,
        ge=1,
        description=("Most posts in one model batch; a GPU wants more than a CPU (see docs/benchmarks.md)."),
    )
    # 0 by default: a batch runs as soon as the model is free, holding whatever arrived
    # while it was busy. On a CPU a batch costs nearly its size in single posts, so waiting
    # for company only idles the model: at 70% load a 50 ms wait gave p99 706 ms against
    # 437 ms without it, at the same cold throughput (4.0 posts/s). A GPU may want 5-20.
    max_wait_ms: float = Field(
        0.0,
        ge=0,
        description=(
            "Longest a post waits for its batch to fill while the model is idle; 0 runs it at once."
        ),
    )
    max_batch_tokens: int = Field(8192, ge=16, description="Token budget of one batch, padding included.")
    max_inflight_posts: int = Field(256, ge=1, description="Posts taken from Kafka but not yet answered.")

    # --- Shadow model ---------------------------------------------------------
    shadow_model_dir: Path | None = Field(
        None,
        description=(
            "Folder of a candidate model (text/, image/, optional clip/, heads/) scored beside the "
            "live one; its verdicts go to the shadow topic only."
        ),
    )
    shadow_settings: tuple[str, ...] = Field(
        (),
        description=('Overrides for the shadow model only, JSON list of "setting=value".'),
    )
    shadow_topic: str = Field("verdicts.shadow", description="Topic of the shadow model's verdicts.")

    # --- Operations -----------------------------------------------------------
    web_host: str = Field("127.0.0.1", description="Address the HTTP endpoint binds.")
    web_port: int = Field(6066, ge=1, le=65535, description="Port of the worker's HTTP endpoint.")
    health_interval_s: float = Field(
        5.0,
        gt=0,
        description="How often broker, Redis and consumer lag are checked.",
    )
    gc_freeze: bool = Field(
        True,
        description=(
            "Freeze the objects alive at startup out of the garbage collector's reach, so a full "
            "collection does not pause the worker for a whole walk of the loaded models."
        ),
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Log level.")
    log_format: Literal["json", "text"] = Field(
        "json", description="One JSON object per line, or plain text."
    )

    @field_validator("broker")
    @classmethod
    def _broker_url(cls, value: str) -> str:
        if not value.startswith("kafka://"):
            raise ValueError("broker must look like kafka://host:port[;host:port]")
        return value

    @field_validator("allow_private_endpoints")
    @classmethod
    def _endpoints(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for endpoint in value:
            parse_endpoint(endpoint)  # ValueError names the bad entry
        return value

    @model_validator(mode="after")
    def _rules_across_fields(self) -> Settings:
        """Values each valid alone that cannot work together."""
        rules = [
            (
                self.heartbeat_interval_s < self.session_timeout_s,
                "heartbeat_interval_s must be below session_timeout_s",
            ),
            (self.fetch_per_host <= self.fetch_concurrency, "fetch_per_host cannot exceed fetch_concurrency"),
            (
                self.max_text_tokens <= self.max_batch_tokens,
                "max_text_tokens cannot exceed max_batch_tokens (one text must fit a batch)",
            ),
            (
                self.text_window_overlap_chars < self.text_window_chars <= self.text_bound_chars,
                "text_window_overlap_chars < text_window_chars <= text_bound_chars",
            ),
            (
                not self.shadow_settings or self.shadow_model_dir is not None,
                "shadow_settings need shadow_model_dir",
            ),
        ]
        broken = [_env_names(message) for ok, message in rules if not ok]
        if broken:
            raise ValueError("; ".join(broken))
        return self

    @model_validator(mode="after")
    def _clip_flag_labels_are_labels(self) -> Settings:
        # Otherwise a flag label that is not scored can never fire, silently.
        missing = [label for label in self.clip_flag_labels if label not in self.clip_labels]
        if self.clip_model and missing:
            raise ValueError(
                f"clip_flag_labels {missing} are not among clip_labels {list(self.clip_labels)}: "
                "set clip_flag_labels to labels you score"
            )
        return self

    @model_validator(mode="after")
    def _security_is_complete(self) -> Settings:
        if self.kafka_security_protocol.startswith("SASL") and (
            not self.kafka_sasl_username or self.kafka_sasl_password is None
        ):
            raise ValueError("SASL needs kafka_sasl_username and kafka_sasl_password")
        if (self.kafka_ssl_certfile is None) != (self.kafka_ssl_keyfile is None):
            raise ValueError("mutual TLS needs both kafka_ssl_certfile and kafka_ssl_keyfile")
        return self

    @property
    def bootstrap_servers(self) -> list[str]:
        """``host:port`` strings for Kafka clients."""
        return [part for part in self.broker.removeprefix("kafka://").split(";") if part]

    @property
    def fetch(self) -> FetchConfig:
        """What the image fetcher reads."""
        return view_of(FetchConfig, self)

    @property
    def explain(self) -> ExplainConfig:
        """What the explanation stage reads."""
        return view_of(ExplainConfig, self)

    @classmethod
    def env_name(cls, field: str) -> str:
        return ENV_PREFIX + field.upper()


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One line per ``MODERATION_`` variable that names no setting, with the closest real one."""
    known = [Settings.env_name(name) for name in Settings.model_fields]
    lines = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name in known:
            continue
        # Compared without the prefix, which every name shares and would make all look alike.
        close = difflib.get_close_matches(
            name.removeprefix(ENV_PREFIX).lower(), list(Settings.model_fields), n=1
        )
        hint = (
            f"; did you mean {Settings.env_name(close[0])}?"
            if close
            else "; `moderation-worker settings` lists them"
        )
        lines.append(f"unknown setting {name}{hint}")
    return lines


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings from the environment, or :class:`ConfigError` with a one-line reason.

    Cheap: nothing heavy (torch, transformers, faust) is imported on the way, so a
    wrong setting is reported in a fraction of a second.
    """
    env = os.environ if environ is None else environ
    unknown = unknown_variables(env)
    if unknown:
        raise ConfigError("; ".join(unknown))
    try:
        if environ is None:
            return Settings()
        values = {
            name: env[Settings.env_name(name)]
            for name in Settings.model_fields
            if Settings.env_name(name) in env
        }
        return Settings.model_validate(_decoded(values))
    except ValidationError as exc:
        raise ConfigError(f"invalid settings: {_problems(exc)}") from exc
    except SettingsError as exc:
        cause = exc.__cause__ or exc
        raise ConfigError(f"invalid settings: {str(exc).splitlines()[0]}: {cause}") from exc


def _env_names(message: str) -> str:
    """Field names in a message written as the variables users set."""
    return re.sub(
        r"\b[a-z][a-z0-9_]+\b",
        lambda m: Settings.env_name(m.group()) if m.group() in Settings.model_fields else m.group(),
        message,
    )


def _decoded(values: dict[str, str]) -> dict[str, object]:
    """JSON lists as the environment source decodes them."""
    out: dict[str, object] = {}
    for name, raw in values.items():
        if get_origin(Settings.model_fields[name].annotation) in (tuple, list, dict):
            try:
                out[name] = json.loads(raw)
            except ValueError as exc:
                raise ConfigError(
                    f"invalid settings: {Settings.env_name(name)}: expected a JSON list, got {raw!r}"
                ) from exc
        else:
            out[name] = raw
    return out


def _problems(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = Settings.env_name(str(error["loc"][0])) if error["loc"] else ""
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else _env_names(message))
    return "; ".join(parts)
