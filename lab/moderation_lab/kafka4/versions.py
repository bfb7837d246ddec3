"""The request versions an Apache Kafka 4.0 broker accepts, per API key.

Each row is the ``"validVersions"`` of ``<Name>Request.json`` in
``clients/src/main/resources/common/message/`` of apache/kafka at the 4.0.0 tag.
KIP-896 raised the lowest version of twelve client APIs in 4.0; their JSON files say
so in one comment each ("Versions 0-2 were removed in Apache Kafka 4.0, version 3 is
the new baseline", ...). The minima below are those baselines.

One exception in the *answer*: a 4.0 broker still lists Produce from version 0 in its
ApiVersions response, because librdkafka refused to talk to a broker whose Produce
range did not start at 0 (KAFKA-18659, ``ApiKeys.PRODUCE_API_VERSIONS_RESPONSE_MIN_VERSION``
at 4.0.0), but it closes the connection on a Produce request below version 3.
:attr:`ApiRange.advertised_min` keeps that apart from :attr:`ApiRange.min`.

Only the APIs a client may send are listed (no inter-broker or controller APIs).

Example::

    KAFKA_4_0[0].accepts(7)   # Produce v7: True
    KAFKA_4_0[1].accepts(3)   # Fetch v3: False (removed by KIP-896)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KAFKA_4_0", "KAFKA_4_0_SOURCE", "ApiRange"]

#: Where the table comes from.
KAFKA_4_0_SOURCE = (
    "apache/kafka 4.0.0, clients/src/main/resources/common/message/<Name>Request.json, validVersions"
)


@dataclass(frozen=True)
class ApiRange:
    """One API of the broker: the versions it accepts and the range it advertises."""

    key: int
    name: str
    min: int
    max: int
    #: The lowest version the ApiVersions answer lists (below ``min`` only for Produce).
    advertised_min: int

    def accepts(self, version: int) -> bool:
        return self.min <= version <= self.max


def _row(key: int, name: str, low: int, high: int, advertised_min: int | None = None) -> ApiRange:
    return ApiRange(key, name, low, high, low if advertised_min is None else advertised_min)


_ROWS = (
    # KIP-896 raised these minima in 4.0 (the JSON's "were removed in Apache Kafka 4.0" line).
    _row(0, "Produce", 3, 12, advertised_min=0),  # 0-2 removed; still advertised (KAFKA-18659)
    _row(1, "Fetch", 4, 17),  # 0-3 removed
    _row(2, "ListOffsets", 1, 10),  # 0 removed
    _row(8, "OffsetCommit", 2, 9),  # 0-1 removed
    _row(9, "OffsetFetch", 1, 9),  # 0 removed
    _row(19, "CreateTopics", 2, 7),  # 0-1 removed
    _row(20, "DeleteTopics", 1, 6),  # 0 removed
    _row(23, "OffsetForLeaderEpoch", 2, 4),  # 0-1 removed
    _row(29, "DescribeAcls", 1, 3),  # 0 removed
    _row(30, "CreateAcls", 1, 3),  # 0 removed
    _row(31, "DeleteAcls", 1, 3),  # 0 removed
    _row(32, "DescribeConfigs", 1, 4),  # 0 removed
    _row(34, "AlterReplicaLogDirs", 1, 2),  # 0 removed
    _row(35, "DescribeLogDirs", 1, 4),  # 0 removed
    _row(38, "CreateDelegationToken", 1, 3),  # 0 removed
    _row(39, "RenewDelegationToken", 1, 2),  # 0 removed
    _row(40, "ExpireDelegationToken", 1, 2),  # 0 removed
    _row(41, "DescribeDelegationToken", 1, 3),  # 0 removed
    # Unchanged baselines.
    _row(3, "Metadata", 0, 13),
    _row(10, "FindCoordinator", 0, 6),
    _row(11, "JoinGroup", 0, 9),
    _row(12, "Heartbeat", 0, 4),
    _row(13, "LeaveGroup", 0, 5),
    _row(14, "SyncGroup", 0, 5),
    _row(15, "DescribeGroups", 0, 6),
    _row(16, "ListGroups", 0, 5),
    _row(17, "SaslHandshake", 0, 1),
    _row(18, "ApiVersions", 0, 4),
    _row(21, "DeleteRecords", 0, 2),
    _row(22, "InitProducerId", 0, 5),
    _row(24, "AddPartitionsToTxn", 0, 5),
    _row(25, "AddOffsetsToTxn", 0, 4),
    _row(26, "EndTxn", 0, 5),
    _row(28, "TxnOffsetCommit", 0, 5),
    _row(33, "AlterConfigs", 0, 2),
    _row(36, "SaslAuthenticate", 0, 2),
    _row(37, "CreatePartitions", 0, 3),
    _row(42, "DeleteGroups", 0, 2),
    _row(43, "ElectLeaders", 0, 2),
    _row(44, "IncrementalAlterConfigs", 0, 1),
    _row(45, "AlterPartitionReassignments", 0, 0),
    _row(46, "ListPartitionReassignments", 0, 0),
    _row(47, "OffsetDelete", 0, 0),
    _row(48, "DescribeClientQuotas", 0, 1),
    _row(49, "AlterClientQuotas", 0, 1),
    _row(50, "DescribeUserScramCredentials", 0, 0),
    _row(51, "AlterUserScramCredentials", 0, 0),
    _row(55, "DescribeQuorum", 0, 2),
    _row(57, "UpdateFeatures", 0, 1),
    _row(60, "DescribeCluster", 0, 1),
    _row(61, "DescribeProducers", 0, 0),
    _row(65, "DescribeTransactions", 0, 0),
    _row(66, "ListTransactions", 0, 1),
    _row(68, "ConsumerGroupHeartbeat", 0, 1),
    _row(69, "ConsumerGroupDescribe", 0, 1),
    _row(71, "GetTelemetrySubscriptions", 0, 0),
    _row(72, "PushTelemetry", 0, 0),
    _row(74, "ListClientMetricsResources", 0, 0),
    _row(75, "DescribeTopicPartitions", 0, 0),
)

#: API key -> what Kafka 4.0 accepts.
KAFKA_4_0: dict[int, ApiRange] = {row.key: row for row in sorted(_ROWS, key=lambda r: r.key)}
