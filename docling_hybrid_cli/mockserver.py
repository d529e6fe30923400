"""Temporary alias of ``python -m docling_hybrid_cli.sim`` until bench.py starts that instead."""

from docling_hybrid_cli.sim.command import main

if __name__ == "__main__":
    main()
