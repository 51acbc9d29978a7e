"""The ``instrumentation`` processor: which signals and span kinds each service sends."""
