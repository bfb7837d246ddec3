"""The lab around the moderation worker: benchmarks, the reliability harness, the demo,
the embedded services (Kafka-protocol broker, redis-server, image server) and the
builders of tiny test models. Never imported by the ``worker`` package, and not
shipped in its wheel or image."""
