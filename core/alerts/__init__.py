"""Alerts into the outbox, and out of it to a front-end."""
