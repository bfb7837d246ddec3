"""Consuming posts: the faust app and its agent (:mod:`.app`, :mod:`.kafka_app`) and the
parsing of each record into a post or a dead letter (:mod:`.intake`)."""
