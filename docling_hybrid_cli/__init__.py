"""docling-hybrid-ocr: PDFs to clean Markdown through vision-language OCR servers.

The command-line tool lives in :mod:`docling_hybrid_cli.cli`; the pipeline it
drives is usable on its own (:func:`docling_hybrid_cli.pipeline.convert_document`).
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
