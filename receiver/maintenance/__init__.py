"""Maintenance windows, mute time intervals and Alertmanager silences (docs/maintenance.md)."""
