"""Ingest: parse Alertmanager's webhook, commit every alert, then answer."""
