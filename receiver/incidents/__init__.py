"""Incidents: alerts become incidents (processor) and due work is dispatched (dispatcher)."""
