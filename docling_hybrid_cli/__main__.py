"""``python -m docling_hybrid_cli`` runs the same CLI as the console script."""

from .cli import main

main()
