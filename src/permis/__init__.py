"""permis: the national points-licence registry and its online service."""

__version__ = "0.1.0"
