"""Span metrics: calls, errors and duration per service, operation and dimensions."""
