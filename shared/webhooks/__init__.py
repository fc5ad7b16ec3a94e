"""Outbound webhook delivery: the SSRF guard on target URLs, signatures, and the HTTP sender."""
