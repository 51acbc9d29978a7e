"""Config loading: the embedded default, error paths and positions, env, redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_perf.cli.commands import main
from otel_perf.config import EMBEDDED, ConfigError, load_config
from otel_perf.config.models import OTLPReceiverConfig
from otel_perf.config.types import parse_duration_s

TESTDATA = Path(__file__).parent / "testdata" / "config"


def test_embedded_default_validates() -> None:
    config = load_config()
    assert config.source == EMBEDDED
    otlp = config.receivers["otlp"]
    assert isinstance(otlp, OTLPReceiverConfig)
    assert otlp.protocols.grpc is not None and otlp.protocols.grpc.endpoint == "127.0.0.1:4317"
    assert otlp.protocols.http is not None and otlp.protocols.http.endpoint == "127.0.0.1:4318"
    assert set(config.service.pipelines) == {"traces", "metrics", "logs"}


def test_five_mistakes_are_all_reported_with_paths_and_positions() -> None:
    path = TESTDATA / "five_mistakes.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    rendered = str(caught.value).replace(str(path), "five_mistakes.yaml")
    assert rendered == (TESTDATA / "five_mistakes.txt").read_text().rstrip("\n")
    assert len(caught.value.problems) == 5


def test_validate_command_exits_non_zero_and_prints_every_problem(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["validate", str(TESTDATA / "five_mistakes.yaml")]) == 2
    err = capsys.readouterr().err
    for path in (
        "receivers.otlp.protocols.grpc.endpoint",
        "receivers.otlp.bogus",
        "processors.nosuch/x",
        "service.tick_interval",
        "service.pipelines.traces.receivers[1]",
    ):
        assert path in err


def test_validate_command_accepts_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    default = Path(__file__).parents[1] / "otel_perf" / "config" / "default.yaml"
    assert main(["validate", str(default)]) == 0
    assert "valid" in capsys.readouterr().out


def test_env_substitution_with_default_and_type(
    write_config,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setenv("OP_PORT_BODY", "7")
    path = write_config(
        """
        receivers:
          otlp:
            protocols:
              http:
                endpoint: ${env:OP_HTTP:-127.0.0.1:9999}
                max_request_body_size_mib: ${env:OP_PORT_BODY}
        service:
          pipelines:
            traces: {receivers: [otlp]}
        """
    )
    http = load_config(path).receivers["otlp"].protocols.http  # type: ignore[attr-defined]
    assert http.endpoint == "127.0.0.1:9999"
    assert http.max_request_body_size_mib == 7


def test_missing_env_variable_is_an_error_with_its_position(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config(
        """
        receivers:
          otlp:
            auth:
              bearer_token: ${env:OP_SURELY_UNSET_TOKEN}
        """
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "receivers.otlp.auth.bearer_token" in str(caught.value)
    assert "OP_SURELY_UNSET_TOKEN is not set" in str(caught.value)
    assert ":5:" in str(caught.value)


def test_print_config_redacts_secrets(
    write_config,
    capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
) -> None:
    path = write_config(
        """
        receivers:
          otlp:
            auth: {bearer_token: hunter2}
        service:
          pipelines:
            traces: {receivers: [otlp]}
        """
    )
    assert main(["print-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out
    assert "<redacted>" in out
    secret = load_config(path).receivers["otlp"].auth.bearer_token  # type: ignore[attr-defined]
    assert secret.get_secret_value() == "hunter2"


def test_invalid_yaml_names_the_position(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config("receivers:\n  otlp: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "invalid YAML" in str(caught.value)
    assert caught.value.problems[0].line is not None


def test_unknown_section_and_duplicate_key(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config("recievers: {}\nservice: {}\nservice: {}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert "recievers: unknown section" in text
    assert "service: key appears twice" in text


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("200ms", 0.2), ("10s", 10.0), ("1m", 60.0), ("1h", 3600.0), ("30d", 2592000.0), (5, 5.0)],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration_s(text) == pytest.approx(seconds)


def test_bad_duration_message() -> None:
    with pytest.raises(ValueError, match='expected a duration like "200ms", got "fast"'):
        parse_duration_s("fast")


def test_deploy_examples_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_PERF_API_TOKEN", "a-token")  # the deployed API requires one
    examples = sorted((Path(__file__).parents[1] / "deploy").rglob("otel-perf*.yaml"))
    assert examples
    for path in examples:
        load_config(path)


def test_empty_bearer_token_is_refused(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config("receivers:\n  otlp:\n    auth: {bearer_token: ''}\n")
    with pytest.raises(ConfigError, match="bearer_token is empty"):
        load_config(path)
