"""Playbooks: render step parameters in a sandbox (render) and run steps from work rows (runner)."""
