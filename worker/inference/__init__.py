"""Inference: one post's state (:mod:`.jobs`), its inputs made ready (:mod:`.prepare`),
the micro-batching policy (:mod:`.batching`), the model run on a batch (:mod:`.runner`)
and the embedding cache (:mod:`.cache`)."""
