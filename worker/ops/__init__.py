"""Operating the worker: metrics (:mod:`.metrics`), liveness and readiness
(:mod:`.health`), the HTTP endpoints (:mod:`.web`), logs (:mod:`.logs`) and garbage
collection pauses (:mod:`.gc`)."""
