"""Fetching images safely: which URLs may be requested (:mod:`.url_policy`), the
connection pinned to the vetted address (:mod:`.pinned`), the fetcher itself
(:mod:`.client`), how many fetches run at once (:mod:`.limits`), decoding
(:mod:`.decode`) and skipping a fetch whose embeddings are cached (:mod:`.memo`)."""
