"""Configuration: the environment read once (:mod:`.settings`), the typed view each
component receives (:mod:`.views`), the hash of what decides a verdict (:mod:`.fingerprint`)
and the clients' credentials (:mod:`.credentials`)."""
