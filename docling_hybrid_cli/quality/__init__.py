"""Output quality: how far a page's text can be trusted, measured against a reference.

Two users: ``convert`` checks every page a model converted against the PDF's
own text layer (:mod:`.review`), and ``benchmark --quality`` scores backends
against reference Markdown (:mod:`docling_hybrid_cli.bench.quality`). Both
stand on the same pieces: :mod:`.tokens` turns Markdown, HTML and LaTeX into
comparable words, :mod:`.scores` measures (token precision/recall/F1, the
normalised edit distance), :mod:`.reference` tells a usable text layer from a
garbage one, and :mod:`.tables` scores table cells.

Submodules are imported by name; this package imports nothing, so the value
types in :mod:`.record` stay cheap to import.
"""
