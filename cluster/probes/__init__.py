"""Probes that agree with keepalived: genhash digests and, later, one round of health checks.

``digest`` is pure (the maths over raw response bytes); ``http`` is the socket edge.
"""
