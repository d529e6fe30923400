"""Run the simulated server: ``python -m docling_hybrid_cli.sim --help``."""

from docling_hybrid_cli.sim.command import main

if __name__ == "__main__":
    main()
