"""The demo: everything started locally, real tweets produced, verdicts printed
(:mod:`.run`), its data (:mod:`.data`), its trained heads (:mod:`.heads`) and the
replay demo (:mod:`.replay`)."""
