"""Known content: PDQ perceptual hashes of images and the hash banks they are matched against.

``pdq`` computes and represents hashes, ``hasher`` computes them once per image content
(cached in Redis beside the encoder outputs), ``banks`` loads the named hash lists,
``index`` finds near hashes fast, ``matcher`` ties banks, index and reloads together.
"""
