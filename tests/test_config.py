"""Configuration: defaults, the commented file, environment overrides, and clear errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from arobase.config import CONFIG_NAME, SCHEMA, ConfigError, load, render


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / CONFIG_NAME).write_text(text, encoding="utf-8")
    return tmp_path


def test_rendered_file_lists_every_key_with_its_default(tmp_path: Path) -> None:
    text = render()
    parsed = tomllib.loads(text)
    for section, keys in SCHEMA.items():
        assert set(parsed[section]) == set(keys)
        for name, key in keys.items():
            assert parsed[section][name] == key.default
            assert f"# {key.help}" in text
    config = load(write(tmp_path, text), environ={})
    assert config.listen.mx == "127.0.0.1:2525"
    assert config.listen.http == "127.0.0.1:8080"


def test_production_ports() -> None:
    listen = tomllib.loads(render(production=True))["listen"]
    ports = [listen[k].rsplit(":", 1)[1] for k in listen]
    assert ports == ["25", "587", "465", "143", "993", "110", "995", "443", "80"]


def test_environment_overrides(tmp_path: Path) -> None:
    data = write(tmp_path, render())
    config = load(
        data,
        environ={
            "AROBASE_LISTEN_MX": "127.0.0.2:2525",
            "AROBASE_SMTP_MAX_RECIPIENTS": "7",
            "AROBASE_STORE_FSYNC": "off",
            "AROBASE_DATA": "ignored",
        },
    )
    assert config.listen.mx == "127.0.0.2:2525"
    assert config.smtp.max_recipients == 7
    assert config.store.fsync is False


@pytest.mark.parametrize(
    ("text", "environ", "message"),
    [
        ("[smtp]\nmax_recipents = 5\n", {}, "smtp.max_recipents: unknown key (did you mean 'max_recipients'?)"),
        ("[smpt]\n", {}, "unknown section [smpt] (did you mean 'smtp'?)"),
        ('[smtp]\nmax_recipients = "many"\n', {}, "smtp.max_recipients: must be an integer, not a string"),
        ("[smtp]\nmax_recipients = 0\n", {}, "smtp.max_recipients: 0 must be greater than 0"),
        ('[listen]\nmx = "nowhere"\n', {}, "listen.mx: 'nowhere' must be HOST:PORT"),
        ("[store]\nfsync = 1\n", {}, "store.fsync: must be true or false, not an integer"),
        ('[log]\nlevel = "loud"\n', {}, "log.level: 'loud' must be one of"),
        ("this is = = not toml", {}, "invalid TOML"),
        ("", {"AROBASE_SMTP_MAX_RECIPIENTS": "lots"}, "AROBASE_SMTP_MAX_RECIPIENTS: 'lots' must be an integer"),
        ("", {"AROBASE_LISTEN_MXX": "127.0.0.1:25"}, "AROBASE_LISTEN_MXX: no such setting"),
    ],
)
def test_invalid_configuration_names_the_key(tmp_path: Path, text: str, environ: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError) as error:
        load(write(tmp_path, text), environ=environ)
    assert message in str(error.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load(tmp_path, environ={})
