"""Probes that agree with keepalived: genhash digests and one round of health checks.

``digest`` is pure (genhash's maths over raw response bytes); ``http`` is the socket edge;
``checks`` runs TCP_CHECK/HTTP_GET/SSL_GET with keepalived's retry and judgement rules.
"""
