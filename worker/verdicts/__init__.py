"""Verdicts: built from the scores (:mod:`.build`), dead letters for what cannot be
scored (:mod:`.dead_letters`), published to Kafka (:mod:`.publish`), and the input
offsets acknowledged in order once their outputs are written (:mod:`.acks`)."""
