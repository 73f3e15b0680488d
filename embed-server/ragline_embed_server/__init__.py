"""ragline's TEI-compatible embedding and reranking server (see embed-server/README.md)."""

__version__ = "0.1.0"
