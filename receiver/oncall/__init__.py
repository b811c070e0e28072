"""Who is on call: pure computation over ``schedules:`` (``receiver.rules.schedules``) and overrides.

No store, no clock of its own: callers pass the instant (epoch seconds, UTC) and the overrides they read.
``receiver.oncall.rotation`` computes one layer's shifts; ``receiver.oncall.resolve`` combines layers
and overrides into the person on call and until when.
"""
