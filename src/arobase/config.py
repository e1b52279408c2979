"""Configuration: one TOML file in the data directory, overridable by environment variables.

Every key is declared once in SCHEMA with its type, default and help text; the file written by
`init` is generated from it, so the documentation of a key can never drift from its parser.
Unknown sections and keys are errors: a typo must never be silently ignored.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_NAME = "arobase.toml"
ENV_PREFIX = "AROBASE_"
ENV_DATA = "AROBASE_DATA"


class ConfigError(Exception):
    """A configuration problem, worded for the person who has to fix it."""


@dataclass(frozen=True, slots=True)
class Key:
    default: Any
    help: str
    check: Callable[[Any], str | None] | None = None  # returns a problem, or None when fine

    @property
    def type(self) -> type:
        return type(self.default)


def _listen_address(value: str) -> str | None:
    if value == "":
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return 'must be HOST:PORT (for example 127.0.0.1:2525) or "" to disable'
    return None


def _positive(value: int) -> str | None:
    return None if value > 0 else "must be greater than 0"


def _not_negative(value: int) -> str | None:
    return None if value >= 0 else "must be 0 or more"


def _at_least(minimum: int) -> Callable[[int], str | None]:
    def check(value: int) -> str | None:
        return None if value >= minimum else f"must be at least {minimum}"

    return check


def _address_or_empty(value: str) -> str | None:
    local, at, domain = value.rpartition("@")
    if value and (not at or not local or "." not in domain):
        return "must be an address such as admin@example.org, or empty"
    return None


def _one_of(*choices: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if value in choices else "must be one of " + ", ".join(map(repr, choices))

    return check


def _nameserver(value: str) -> str | None:
    if value == "":
        return None
    host, sep, port = value.rpartition(":")
    if sep and host and not host.endswith("]") and ":" in host:
        host, port = value, "53"  # a bare IPv6 address
    elif not sep or not host:
        host, port = value, "53"
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return 'must be an IP address, optionally with a port (127.0.0.1:5353), or "" for the system resolver'
    if not port.isdigit() or not 0 < int(port) < 65536:
        return "has an invalid port"
    return None


def _hostname(value: str) -> str | None:
    labels = value.rstrip(".").split(".")
    if not value or any(not label or len(label) > 63 for label in labels):
        return "must be a fully qualified host name such as mail.example.org"
    return None


_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> int:
    """Seconds in "90", "90s", "5m", "4h", "5d" or "1w"; ValueError otherwise."""
    text = text.strip().lower()
    number = text.rstrip("smhdw")
    unit = text[len(number) :]
    if not number.isdigit() or unit not in _DURATION_UNITS:
        raise ValueError(f"{text!r} is not a duration")
    return int(number) * _DURATION_UNITS[unit]


def parse_durations(text: str) -> list[int]:
    """A list of durations separated by spaces or commas: "5m 10m 30m 1h"."""
    return [parse_duration(part) for part in text.replace(",", " ").split()]


def _duration(value: str) -> str | None:
    try:
        parse_duration(value)
    except ValueError:
        return "must be a duration such as 300, 90s, 5m, 4h or 5d"
    return None


def _durations(value: str) -> str | None:
    try:
        delays = parse_durations(value)
    except ValueError:
        return 'must be durations separated by spaces, such as "5m 10m 30m 1h 2h 4h"'
    return None if delays and all(delays) else "needs at least one delay, each greater than 0"


def parse_routes(text: str) -> dict[str, tuple[str, int]]:
    """Static routes "domain=host:port, *=smarthost:587" as {domain: (host, port)}; "*" matches every domain."""
    routes: dict[str, tuple[str, int]] = {}
    for entry in text.replace(",", " ").split():
        domain, sep, target = entry.partition("=")
        host, colon, port = target.rpartition(":")
        if not sep or not domain or not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{entry!r} is not domain=host:port")
        routes[domain.lower().rstrip(".")] = (host.strip("[]"), int(port))
    return routes


def _routes(value: str) -> str | None:
    try:
        parse_routes(value)
    except ValueError as e:
        return f"must be domain=host:port entries separated by commas ({e})"
    return None


def _ip_or_empty(value: str) -> str | None:
    if value == "":
        return None
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return 'must be an IP address of this machine, or "" to let the system choose'
    return None


# Keys of [filters] a domain may override in filters.domains, with their types.
FILTER_DOMAIN_KEYS: dict[str, type] = {
    "junk_score": int,
    "reject_score": int,
    "phishing_score": int,
    "subject_tag": str,
    "attachments": str,
}
_ATTACHMENT_ACTIONS = ("quarantine", "reject", "deliver")


def parse_filter_domains(text: str) -> dict[str, dict[str, int | str]]:
    """Per-domain filter overrides "example.org: junk_score=8 attachments=reject; other.test: ..."."""
    found: dict[str, dict[str, int | str]] = {}
    for entry in text.split(";"):
        if not entry.strip():
            continue
        domain, colon, settings = entry.partition(":")
        domain = domain.strip().lower().rstrip(".")
        if not colon or not domain:
            raise ValueError(f"{entry.strip()!r} is not 'domain: key=value ...'")
        values: dict[str, int | str] = {}
        for setting in settings.split():
            key, eq, value = setting.partition("=")
            if not eq or key not in FILTER_DOMAIN_KEYS:
                raise ValueError(f"{setting!r}: keys are " + ", ".join(FILTER_DOMAIN_KEYS))
            if FILTER_DOMAIN_KEYS[key] is int:
                if not value.isdigit():
                    raise ValueError(f"{setting!r}: {key} must be a whole number")
                values[key] = int(value)
            elif key == "attachments" and value not in _ATTACHMENT_ACTIONS:
                raise ValueError(f"{setting!r}: attachments must be one of " + ", ".join(_ATTACHMENT_ACTIONS))
            else:
                values[key] = value
        found[domain] = values
    return found


def _filter_domains(value: str) -> str | None:
    try:
        parse_filter_domains(value)
    except ValueError as e:
        return f"must be 'domain: key=value ...' entries separated by ';' ({e})"
    return None


def parse_zones(text: str) -> list[tuple[str, int]]:
    """DNS blocklist zones "zone[=points]" separated by commas or spaces; 3 points by default."""
    zones = []
    for entry in text.replace(",", " ").split():
        zone, eq, points = entry.partition("=")
        if not zone or "." not in zone.strip(".") or (eq and not points.isdigit()):
            raise ValueError(f"{entry!r} is not zone or zone=points")
        zones.append((zone.strip(".").lower(), int(points) if eq else 3))
    return zones


def _zones(value: str) -> str | None:
    try:
        parse_zones(value)
    except ValueError as e:
        return f'must be DNS zones such as "zen.spamhaus.org=4, bl.example" ({e})'
    return None


LISTEN_DEFAULTS = {
    "mx": ("127.0.0.1:2525", "0.0.0.0:25", "SMTP from other servers (MX), STARTTLS offered"),
    "submission": ("127.0.0.1:2587", "0.0.0.0:587", "SMTP submission by our users, STARTTLS"),
    "submissions": ("127.0.0.1:2465", "0.0.0.0:465", "SMTP submission over implicit TLS"),
    "imap": ("127.0.0.1:2143", "0.0.0.0:143", "IMAP, STARTTLS"),
    "imaps": ("127.0.0.1:2993", "0.0.0.0:993", "IMAP over implicit TLS"),
    "pop3": ("127.0.0.1:2110", "0.0.0.0:110", "POP3, STLS"),
    "pop3s": ("127.0.0.1:2995", "0.0.0.0:995", "POP3 over implicit TLS"),
    "http": ("127.0.0.1:8080", "0.0.0.0:443", "webmail (HTTPS in production)"),
    "http_redirect": ("", "0.0.0.0:80", "plain HTTP answered with a redirect to the HTTPS webmail"),
}

SCHEMA: dict[str, dict[str, Key]] = {
    "server": {
        "hostname": Key("mail.example.test", "name of this server in SMTP greetings and Received headers", _hostname),
    },
    "listen": {
        name: Key(dev, f'{help}; "" disables it', _listen_address)
        for name, (dev, _prod, help) in LISTEN_DEFAULTS.items()
    },
    "tls": {
        "cert": Key("tls/cert.pem", "PEM certificate chain, relative to the data directory"),
        "key": Key("tls/key.pem", "PEM private key, relative to the data directory"),
    },
    "store": {
        "backend": Key("sqlite", "where mail is kept: sqlite (embedded, with blob files)", _one_of("sqlite")),
        "fsync": Key(True, "flush every accepted message to disk before acknowledging it"),
        "blob_grace_seconds": Key(600, "age before an unreferenced blob may be swept", _not_negative),
    },
    "accounts": {
        "default_quota": Key(0, "mailbox quota in bytes for new accounts; 0 means unlimited", _not_negative),
        "subaddress_separator": Key("+", 'user+tag@domain delivers to user; "" disables it'),
        "postmaster": Key(
            "",
            'receives postmaster@ mail of domains with no such account or alias; "" = the first account',
            _address_or_empty,
        ),
    },
    "imap": {
        "idle_timeout": Key(1800, "seconds a logged-in client may stay silent (IDLE refreshes it)", _positive),
        "max_connections_per_ip": Key(50, "simultaneous IMAP connections from one client address", _positive),
        "max_connections_per_account": Key(50, "simultaneous IMAP sessions of one account", _positive),
        "max_errors": Key(20, "BAD answers before a client is disconnected", _positive),
    },
    "pop3": {
        "idle_timeout": Key(600, "seconds a client may stay silent (RFC 1939: at least 600)", _at_least(600)),
        "max_errors": Key(20, "-ERR answers before a client is disconnected", _positive),
    },
    "smtp": {
        "max_message_size": Key(52_428_800, "largest message accepted, in bytes", _positive),
        "max_recipients": Key(100, "most recipients accepted for one message", _positive),
        "command_timeout": Key(300, "seconds a client may take to send a whole command line", _positive),
        "data_timeout": Key(180, "longest silence in seconds while a message is being received", _positive),
        "max_errors": Key(20, "refused commands in one session before it is closed with 421", _positive),
        "max_connections_per_ip": Key(50, "simultaneous SMTP connections from one client address", _positive),
    },
    "auth": {
        "allow_plaintext_on_loopback": Key(False, "development only: allow passwords without TLS from 127.0.0.0/8"),
    },
    "limits": {
        "login_free_failures": Key(3, "failed logins per client IP or login answered without delay", _not_negative),
        "login_delay_ms": Key(1000, "delay after the free failures, doubled at each further failure", _not_negative),
        "login_max_delay_ms": Key(16000, "cap of that growing delay", _not_negative),
        "login_lockout_failures": Key(10, "failed logins that lock the client IP or login out", _positive),
        "login_lockout_seconds": Key(900, "how long a lockout lasts", _positive),
        "messages_per_hour": Key(200, "messages a user may submit per hour; 0 means unlimited", _not_negative),
        "recipients_per_day": Key(2000, "recipients a user may submit to per day; 0 means unlimited", _not_negative),
    },
    "dns": {
        "nameserver": Key(
            "", 'resolver for SPF/DKIM/DMARC, such as "127.0.0.1:5353"; "" uses the system resolver', _nameserver
        ),
    },
    "outbound": {
        "workers": Key(32, "messages being delivered to other servers at once", _positive),
        "connections_per_host": Key(4, "connections open at once to one remote server (they are reused)", _positive),
        "idle_seconds": Key(
            5, "how long an unused connection to a remote server is kept for the next message", _not_negative
        ),
        "port": Key(25, "TCP port of remote MX hosts (25 on the internet; tests use another)", _positive),
        "routes": Key(
            "",
            'static routes instead of MX lookups, "domain=host:port" separated by commas; "*=host:587" sends'
            " everything through a smarthost",
            _routes,
        ),
        "relay_login": Key("", 'login for AUTH on static routes and smarthosts; "" sends without AUTH'),
        "relay_password": Key("", "password for relay_login"),
        "source_address": Key(
            "", 'local IP address outgoing connections come from; "" lets the system choose', _ip_or_empty
        ),
        "tls_verify": Key(False, "verify remote certificates on STARTTLS (MX-to-MX TLS is usually unverified)"),
        "connect_timeout": Key(30, "seconds to wait for a remote server to answer a connection", _positive),
        "timeout": Key(300, "seconds to wait for any one reply of a remote server", _positive),
        "retry_delays": Key(
            "5m 10m 30m 1h 2h 4h", "waits between attempts after a temporary failure; the last one repeats", _durations
        ),
        "give_up_after": Key("5d", "age at which a message that still cannot be delivered is bounced", _duration),
        "delay_warning_after": Key(
            "4h", 'age at which the sender is told once that delivery is delayed; "0" never', _duration
        ),
        "poll_interval_ms": Key(
            250, "how often the queue looks for new or retried messages (a cheap query)", _positive
        ),
    },
    "web": {
        "tls": Key(
            "auto",
            'HTTPS on listen.http: "on", "off", or "auto" (HTTPS unless it listens on a loopback address)',
            _one_of("auto", "on", "off"),
        ),
        "session_idle": Key("2h", "webmail sessions end after this long without a request", _duration),
        "session_max": Key("7d", "webmail sessions end this long after login, however active", _duration),
        "page_size": Key(50, "messages per page in the webmail's message list", _positive),
        "max_upload": Key(26_214_400, "largest total size of attachments in one webmail message, in bytes", _positive),
    },
    "filters": {
        "enabled": Key(True, "run spam, phishing and attachment checks on every message before it is stored"),
        "junk_score": Key(5, "spam score at which MX mail goes to the recipient's Junk folder", _positive),
        "reject_score": Key(
            15, "spam score at which MX mail is refused during SMTP (550 5.7.1); 0 never", _not_negative
        ),
        "phishing_score": Key(4, "phishing points at which a message carries a warning", _positive),
        "subject_tag": Key("", 'prefix added to the Subject of phishing warnings, such as "[Suspicious]"; "" none'),
        "attachments": Key(
            "quarantine",
            "dangerous attachments in MX mail: quarantine (replaced by a note, original kept), reject, or deliver",
            _one_of(*_ATTACHMENT_ACTIONS),
        ),
        "submission_attachments": Key(
            "reject", "dangerous attachments sent by our own users: reject or deliver", _one_of("reject", "deliver")
        ),
        "dnsbl_zones": Key(
            "", 'DNS blocklists for the client IP, "zone[=points]" separated by commas; "" none', _zones
        ),
        "uribl_zones": Key(
            "", 'DNS blocklists for domains in links, "zone[=points]" separated by commas; "" none', _zones
        ),
        "bayes_weight": Key(
            10, "points the classifier adds for certain spam (and removes for certain ham)", _not_negative
        ),
        "bayes_min_messages": Key(10, "spam and ham messages each the classifier needs before it counts", _positive),
        "archive_depth": Key(
            3, "archives inside archives opened before giving up (and calling it dangerous)", _positive
        ),
        "scan_max_bytes": Key(
            26_214_400, "largest expanded attachment inspected; bigger ones (zip bombs) count as dangerous", _positive
        ),
        "scan_timeout_ms": Key(5000, "time allowed to inspect one document before it counts as dangerous", _positive),
        "brands": Key("", 'extra brand domains to protect from lookalikes, separated by commas, such as "mybank.fr"'),
        "rspamd_url": Key("", 'Rspamd normal worker for a second opinion, such as "http://127.0.0.1:11333"; "" off'),
        "clamav": Key(
            "",
            'clamd socket for virus scanning of attachments: "unix:/run/clamav/clamd.ctl" or "127.0.0.1:3310"; "" off',
        ),
        "domains": Key(
            "",
            "per-domain overrides of junk_score, reject_score, phishing_score, subject_tag and attachments:"
            ' "example.org: junk_score=8 attachments=reject; other.test: reject_score=0"',
            _filter_domains,
        ),
    },
    "log": {
        "level": Key("info", "debug, info, warning or error", _one_of("debug", "info", "warning", "error")),
    },
}


class Section(Mapping[str, Any]):
    """Read-only view of one section, with attribute access: `config.smtp.max_recipients`."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(key) from None

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


class Config:
    """The validated configuration of one data directory."""

    def __init__(self, data_dir: Path, values: dict[str, dict[str, Any]]) -> None:
        self.data_dir = data_dir
        self._sections = {name: Section(section) for name, section in values.items()}

    def __getattr__(self, name: str) -> Section:
        try:
            return self._sections[name]
        except KeyError:
            raise AttributeError(name) from None

    def path(self, relative: str) -> Path:
        """Resolve a path setting against the data directory."""
        return (self.data_dir / relative).resolve()

    @property
    def tls_cert(self) -> Path:
        return self.path(self.tls.cert)

    @property
    def tls_key(self) -> Path:
        return self.path(self.tls.key)


def defaults() -> dict[str, dict[str, Any]]:
    return {section: {k: key.default for k, key in keys.items()} for section, keys in SCHEMA.items()}


def load(data_dir: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read DATA/arobase.toml, apply AROBASE_<SECTION>_<KEY> overrides, validate everything."""
    environ = os.environ if environ is None else environ
    path = data_dir / CONFIG_NAME
    try:
        with path.open("rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found (create it with `arobase init {data_dir}`)") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    values = defaults()
    for section, keys in raw.items():
        if section not in SCHEMA:
            raise ConfigError(f"{path}: unknown section [{section}]{_suggest(section, SCHEMA)}")
        if not isinstance(keys, dict):
            raise ConfigError(f"{path}: {section} must be a [section]")
        for name, value in keys.items():
            where = f"{path}: {section}.{name}"
            values[section][name] = _validate(where, section, name, value)
    for var, text in environ.items():
        if not var.startswith(ENV_PREFIX) or var == ENV_DATA:
            continue
        section, name = _env_target(var)
        values[section][name] = _validate(
            f"environment variable {var}", section, name, _from_env(var, text, SCHEMA[section][name])
        )
    return Config(data_dir.resolve(), values)


def _validate(where: str, section: str, name: str, value: Any) -> Any:
    keys = SCHEMA[section]
    if name not in keys:
        raise ConfigError(f"{where}: unknown key{_suggest(name, keys)}")
    key = keys[name]
    if type(value) is not key.type:
        raise ConfigError(f"{where}: must be {_type_name(key.type)}, not {_type_name(type(value))}")
    problem = key.check(value) if key.check else None
    if problem:
        raise ConfigError(f"{where}: {value!r} {problem}")
    return value


def _env_target(var: str) -> tuple[str, str]:
    rest = var[len(ENV_PREFIX) :].lower()
    for section in SCHEMA:
        if rest.startswith(section + "_") and rest[len(section) + 1 :] in SCHEMA[section]:
            return section, rest[len(section) + 1 :]
    raise ConfigError(
        f"environment variable {var}: no such setting "
        f"(expected {ENV_PREFIX}<SECTION>_<KEY>, for example AROBASE_LISTEN_MX)"
    )


def _from_env(var: str, text: str, key: Key) -> Any:
    if key.type is bool:
        lowered = text.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"environment variable {var}: {text!r} must be true or false")
    if key.type is int:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"environment variable {var}: {text!r} must be an integer") from None
    return text


def _type_name(t: type) -> str:
    return {bool: "true or false", int: "an integer", str: "a string"}.get(t, t.__name__)


def _suggest(name: str, choices: Mapping[str, Any]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def render(overrides: Mapping[str, Mapping[str, Any]] | None = None, *, production: bool = False) -> str:
    """The commented TOML file `init` writes: every key, its help and its default."""
    overrides = overrides or {}
    lines = [
        "# Arobase configuration. Every key is shown with its default.",
        "# Environment variables AROBASE_<SECTION>_<KEY> override these values.",
    ]
    for section, keys in SCHEMA.items():
        lines += ["", f"[{section}]"]
        for name, key in keys.items():
            default = key.default
            if production and section == "listen":
                default = LISTEN_DEFAULTS[name][1]
            value = overrides.get(section, {}).get(name, default)
            lines.append(f"# {key.help} (default: {_toml_value(key.default)})")
            lines.append(f"{name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
