"""The worker's settings: one frozen class, read from the environment in one place.

Every field is read from ``MODERATION_<FIELD NAME IN UPPER CASE>``; lists are given
as JSON (``MODERATION_CLIP_LABELS='["a", "b"]'``). The README's configuration table
is generated from this class (``moderation-worker settings --markdown``).

Example::

    settings = Settings()                          # from the environment
    settings = Settings(max_batch=8, bias_threshold=0.7)   # explicit, for tests
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker import names
from worker.fetch.url_policy import parse_endpoint

__all__ = ["ENV_PREFIX", "Settings"]

ENV_PREFIX = "MODERATION_"

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

    # --- Kafka -------------------------------------------------------------------
    broker: str = Field(
        "kafka://localhost:9092",
        description="Kafka bootstrap servers, `kafka://host:port[;host:port]` (MODERATION_BROKER).",
    )
    group_id: str = Field(
        "moderation-worker",
        description="Consumer group and faust app id shared by all workers (MODERATION_GROUP_ID).",
    )
    group_instance_id: str | None = Field(
        None,
        description=(
            "Static group membership: a name stable across restarts of this one worker (a "
            "StatefulSet pod name); a restarted worker takes its partitions back without a "
            "rebalance (MODERATION_GROUP_INSTANCE_ID)."
        ),
    )
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        "earliest",
        description=(
            "Where a consumer group with no committed offset starts: every retained post, "
            "or only posts that arrive from now on (MODERATION_AUTO_OFFSET_RESET)."
        ),
    )
    posts_topic: str = Field(
        names.DEFAULT_POSTS_TOPIC, description="Input topic of posts (MODERATION_POSTS_TOPIC)."
    )
    verdicts_topic: str = Field(
        names.DEFAULT_VERDICTS_TOPIC,
        description="Topic receiving every verdict (MODERATION_VERDICTS_TOPIC).",
    )
    flagged_topic: str = Field(
        names.DEFAULT_FLAGGED_TOPIC,
        description="Topic also receiving flagged verdicts (MODERATION_FLAGGED_TOPIC).",
    )
    dlq_topic: str = Field(
        names.DEFAULT_DLQ_TOPIC,
        description="Dead-letter topic for unprocessable posts (MODERATION_DLQ_TOPIC).",
    )
    topic_partitions: int = Field(
        8, ge=1, description="Partitions for topics the worker creates (MODERATION_TOPIC_PARTITIONS)."
    )
    topic_replicas: int = Field(
        1, ge=1, description="Replication factor for topics it creates (MODERATION_TOPIC_REPLICAS)."
    )
    session_timeout_s: float = Field(
        30.0, gt=0, description="Consumer group session timeout (MODERATION_SESSION_TIMEOUT_S)."
    )
    heartbeat_interval_s: float = Field(
        3.0, gt=0, description="Consumer heartbeat interval (MODERATION_HEARTBEAT_INTERVAL_S)."
    )
    rebalance_timeout_s: float = Field(
        60.0, gt=0, description="Consumer group rebalance timeout (MODERATION_REBALANCE_TIMEOUT_S)."
    )
    consumer_fetch_max_wait_ms: int = Field(
        500,
        ge=0,
        le=60_000,
        description=(
            "Longest the broker may hold a fetch that finds no new record; Kafka answers "
            "as soon as one arrives (MODERATION_CONSUMER_FETCH_MAX_WAIT_MS)."
        ),
    )
    processing_guarantee: Literal["at_least_once", "exactly_once"] = Field(
        "at_least_once",
        description=(
            "at_least_once publishes each answer at once (a crash may repeat some); "
            "exactly_once commits answers and consumed offsets in one Kafka transaction per "
            "partition, every commit interval, for read_committed consumers "
            "(MODERATION_PROCESSING_GUARANTEE)."
        ),
    )
    transaction_max_records: int = Field(
        1000,
        ge=1,
        description=(
            "Under exactly_once, commit a partition's transaction early once this many "
            "answered records wait in it (MODERATION_TRANSACTION_MAX_RECORDS)."
        ),
    )
    commit_interval_s: float = Field(
        1.0, gt=0, description="How often acknowledged offsets are committed (MODERATION_COMMIT_INTERVAL_S)."
    )
    max_message_bytes: int = Field(
        1_048_576,
        ge=1024,
        description="Posts larger than this go to the dead-letter topic (MODERATION_MAX_MESSAGE_BYTES).",
    )
    dlq_max_original_bytes: int = Field(
        262_144,
        ge=0,
        description=(
            "Original bytes kept in a dead letter; longer ones are cut and marked "
            "(MODERATION_DLQ_MAX_ORIGINAL_BYTES)."
        ),
    )
    web_port: int = Field(
        6066, ge=1, le=65535, description="Port of the worker's HTTP endpoint (MODERATION_WEB_PORT)."
    )
    gc_freeze: bool = Field(
        True,
        description=(
            "Freeze the objects alive at startup out of the garbage collector's reach, so a full "
            "collection pauses the worker for under a millisecond instead of ~250 ms "
            "(MODERATION_GC_FREEZE)."
        ),
    )
    health_interval_s: float = Field(
        5.0,
        gt=0,
        description="How often broker, Redis and consumer lag are checked (MODERATION_HEALTH_INTERVAL_S).",
    )
    web_host: str = Field("127.0.0.1", description="Address the HTTP endpoint binds (MODERATION_WEB_HOST).")

    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How to reach Kafka (MODERATION_KAFKA_SECURITY_PROTOCOL)."
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "PLAIN", description="SASL mechanism for SASL_* protocols (MODERATION_KAFKA_SASL_MECHANISM)."
    )
    kafka_sasl_username: str | None = Field(
        None, description="SASL user name (MODERATION_KAFKA_SASL_USERNAME)."
    )
    kafka_sasl_password: SecretStr | None = Field(
        None, description="SASL password (MODERATION_KAFKA_SASL_PASSWORD)."
    )
    kafka_ssl_cafile: Path | None = Field(
        None, description="CA bundle to verify the brokers (MODERATION_KAFKA_SSL_CAFILE)."
    )
    kafka_ssl_certfile: Path | None = Field(
        None, description="Client certificate for mutual TLS (MODERATION_KAFKA_SSL_CERTFILE)."
    )
    kafka_ssl_keyfile: Path | None = Field(
        None, description="Client key for mutual TLS (MODERATION_KAFKA_SSL_KEYFILE)."
    )

    shadow_model_dir: Path | None = Field(
        None,
        description=(
            "Folder of a candidate model (text/, image/, optional clip/, heads/) scored beside the "
            "live one; its verdicts go to the shadow topic only (MODERATION_SHADOW_MODEL_DIR)."
        ),
    )
    shadow_settings: tuple[str, ...] = Field(
        (),
        description=(
            'Overrides for the shadow model only, JSON list of "setting=value" (MODERATION_SHADOW_SETTINGS).'
        ),
    )
    shadow_topic: str = Field(
        "verdicts.shadow", description="Topic of the shadow model's verdicts (MODERATION_SHADOW_TOPIC)."
    )

    # --- Redis -------------------------------------------------------------------
    redis_url: SecretStr = Field(
        SecretStr("redis://localhost:6379/0"),
        description="Redis URL for the embedding cache and seen posts (MODERATION_REDIS_URL).",
    )
    redis_cluster: bool = Field(
        False, description="The Redis URL names a node of a Redis Cluster (MODERATION_REDIS_CLUSTER)."
    )
    redis_password: SecretStr | None = Field(
        None, description="Redis password, if not in the URL (MODERATION_REDIS_PASSWORD)."
    )
    redis_ssl_cafile: Path | None = Field(
        None, description="CA bundle for rediss:// URLs (MODERATION_REDIS_SSL_CAFILE)."
    )
    cache_enabled: bool = Field(
        True, description="Use Redis for embeddings and referenced posts (MODERATION_CACHE_ENABLED)."
    )
    redis_prefix: str = Field(
        "mw", description="Prefix of every Redis key the worker writes (MODERATION_REDIS_PREFIX)."
    )
    embedding_ttl_s: int = Field(
        7 * 86400, ge=1, description="Lifetime of a cached embedding (MODERATION_EMBEDDING_TTL_S)."
    )
    post_ttl_s: int = Field(
        7 * 86400,
        ge=1,
        description="How long a seen post can be referenced by id (MODERATION_POST_TTL_S).",
    )
    image_url_ttl_s: int = Field(
        86400,
        ge=0,
        description=(
            "How long what an image URL served is remembered, so a reused image whose "
            "embeddings are cached is not fetched again; 0 = always fetch (MODERATION_IMAGE_URL_TTL_S)."
        ),
    )
    redis_timeout_s: float = Field(
        1.0, gt=0, description="Timeout of one Redis call (MODERATION_REDIS_TIMEOUT_S)."
    )

    reference_wait_ms: float = Field(
        1000.0,
        ge=0,
        description=(
            "How long a post waits for a post it references by id to arrive (MODERATION_REFERENCE_WAIT_MS)."
        ),
    )

    # --- Image fetching --------------------------------------------------------------
    fetch_connect_timeout_s: float = Field(
        2.0, gt=0, description="Connect timeout per image (MODERATION_FETCH_CONNECT_TIMEOUT_S)."
    )
    fetch_read_timeout_s: float = Field(
        5.0, gt=0, description="Read timeout between bytes (MODERATION_FETCH_READ_TIMEOUT_S)."
    )
    fetch_total_timeout_s: float = Field(
        10.0, gt=0, description="Deadline for a whole image fetch (MODERATION_FETCH_TOTAL_TIMEOUT_S)."
    )
    fetch_max_bytes: int = Field(
        10 * 1024 * 1024,
        ge=1024,
        description="Largest image body accepted, checked while streaming (MODERATION_FETCH_MAX_BYTES).",
    )
    fetch_concurrency: int = Field(
        32, ge=1, description="Image fetches in flight at once (MODERATION_FETCH_CONCURRENCY)."
    )
    fetch_per_host: int = Field(
        8, ge=1, description="Image fetches in flight per host (MODERATION_FETCH_PER_HOST)."
    )
    fetch_max_redirects: int = Field(
        3, ge=0, description="Redirects followed per image (MODERATION_FETCH_MAX_REDIRECTS)."
    )
    allow_private_hosts: bool = Field(
        False,
        description=(
            "Allow image URLs on loopback/private addresses; tests and demo only "
            "(MODERATION_ALLOW_PRIVATE_HOSTS)."
        ),
    )
    allow_private_endpoints: tuple[str, ...] = Field(
        (),
        description=(
            "Exact non-public `address:port` endpoints image URLs may still reach, JSON list; "
            "tests and demo only (MODERATION_ALLOW_PRIVATE_ENDPOINTS)."
        ),
    )
    max_image_pixels: int = Field(
        40_000_000,
        ge=1,
        description="Images with more pixels are refused before decoding (MODERATION_MAX_IMAGE_PIXELS).",
    )
    decode_min_side: int = Field(
        224,
        ge=0,
        description=(
            "JPEGs decode at the smallest 1/2, 1/4 or 1/8 scale whose sides both stay at or above "
            "this many pixels, about 5x cheaper than a full decode; keep it at or above the image "
            "encoders' input side (224 for ResNet-34 and CLIP ViT-B/16); 0 decodes in full "
            "(MODERATION_DECODE_MIN_SIDE)."
        ),
    )

    # --- Models ------------------------------------------------------------------
    text_encoder: str = Field(
        "bert-base-uncased",
        description="Hub id or folder of the text encoder and its tokenizer (MODERATION_TEXT_ENCODER).",
    )
    image_encoder: str = Field(
        "microsoft/resnet-34",
        description="Hub id or folder of the image encoder and its processor (MODERATION_IMAGE_ENCODER).",
    )
    clip_model: str = Field(
        "openai/clip-vit-base-patch16",
        description="Hub id or folder of the CLIP model; empty disables CLIP (MODERATION_CLIP_MODEL).",
    )
    heads: Path | None = Field(
        None,
        description="Folder with the heads' checkpoint; unset means untrained heads (MODERATION_HEADS).",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Where models run; auto picks CUDA when present (MODERATION_DEVICE)."
    )
    precision: Literal["auto", "fp32", "fp16", "int8"] = Field(
        "auto",
        description=(
            "Encoder precision: auto = fp16 on CUDA, fp32 on CPU; int8 = dynamic quantization "
            "on CPU (MODERATION_PRECISION)."
        ),
    )
    torch_threads: int = Field(
        0, ge=0, description="CPU threads for inference, 0 = torch's default (MODERATION_TORCH_THREADS)."
    )
    max_text_tokens: int = Field(
        512, ge=8, description="Texts are truncated to this many tokens (MODERATION_MAX_TEXT_TOKENS)."
    )
    clip_labels: tuple[str, ...] = Field(
        DEFAULT_CLIP_LABELS,
        min_length=2,
        description="Zero-shot labels scored by CLIP, JSON list (MODERATION_CLIP_LABELS).",
    )
    clip_prompt_template: str = Field(
        "a photo of {}",
        description="Prompt built from each zero-shot label (MODERATION_CLIP_PROMPT_TEMPLATE).",
    )

    # --- Decisions -----------------------------------------------------------------
    bias_threshold: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Bias score at or above which a post is biased (MODERATION_BIAS_THRESHOLD).",
    )
    contradiction_threshold: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Contradictory probability that flags a post (MODERATION_CONTRADICTION_THRESHOLD).",
    )
    clip_flag_labels: tuple[str, ...] = Field(
        DEFAULT_CLIP_LABELS[:4],
        description="Zero-shot labels that flag a post, JSON list (MODERATION_CLIP_FLAG_LABELS).",
    )
    clip_flag_threshold: float = Field(
        0.5, ge=0, le=1, description="Zero-shot probability that flags (MODERATION_CLIP_FLAG_THRESHOLD)."
    )

    # --- Batching --------------------------------------------------------------------
    max_batch: int = Field(
        8,
        ge=1,
        description=(
            "Most posts in one model batch; 8 ran fastest on 2 CPU cores, a GPU wants more "
            "(MODERATION_MAX_BATCH)."
        ),
    )
    # 0 by default: a batch runs as soon as the model is free, holding whatever arrived
    # while it was busy. On a CPU a batch costs nearly its size in single posts, so waiting
    # for company only idles the model: at 70% load a 50 ms wait gave p99 706 ms against
    # 437 ms without it, at the same cold throughput (4.0 posts/s). A GPU may want 5-20.
    max_wait_ms: float = Field(
        0.0,
        ge=0,
        description=(
            "Longest a post waits for its batch to fill while the model is idle; 0 runs it at "
            "once (MODERATION_MAX_WAIT_MS)."
        ),
    )
    max_batch_tokens: int = Field(
        8192, ge=16, description="Token budget of one batch, padding included (MODERATION_MAX_BATCH_TOKENS)."
    )
    max_inflight_posts: int = Field(
        256, ge=1, description="Posts taken from Kafka but not yet answered (MODERATION_MAX_INFLIGHT_POSTS)."
    )

    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level (MODERATION_LOG_LEVEL)."
    )
    log_format: Literal["json", "text"] = Field(
        "json", description="One JSON object per line, or plain text (MODERATION_LOG_FORMAT)."
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

    @classmethod
    def env_name(cls, field: str) -> str:
        return ENV_PREFIX + field.upper()
