"""Escalation: which receivers are notified when (planner) and delivering it (sender)."""
