"""Bundled Troupe plugins."""
