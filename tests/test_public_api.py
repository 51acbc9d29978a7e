"""The public names of otel_perf are a contract: adding one is a decision."""

import otel_perf

PUBLIC = {
    "ComponentConfig",
    "Config",
    "ConfigError",
    "Context",
    "Exporter",
    "Factory",
    "Finding",
    "Kind",
    "Pipeline",
    "Processor",
    "Severity",
    "State",
    "__version__",
    "load_config",
    "register_exporter",
    "register_processor",
}


def test_public_names_are_pinned() -> None:
    assert set(otel_perf.__all__) == PUBLIC
    for name in PUBLIC:
        assert hasattr(otel_perf, name)
