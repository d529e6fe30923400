"""Shared test setup: make ``tests/`` importable so tests can ``from pdfgen import make_pdf``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
