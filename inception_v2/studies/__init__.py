"""Reproductions of the papers behind the network."""
