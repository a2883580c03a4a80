"""Numbered, forward-only SQL migrations, shipped as package data."""
