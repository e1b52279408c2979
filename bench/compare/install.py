"""Install Postfix and Dovecot from Debian packages when missing, and keep the system's own instances stopped.

The comparison runs private instances on loopback high ports; the packages' system services must
neither run nor start at boot, so that the benchmark never competes with (or changes) them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

PACKAGES = ("postfix", "dovecot-imapd", "dovecot-pop3d", "dovecot-lmtpd")
DEBCONF = "postfix postfix/main_mailer_type select No configuration\n"
SERVICES = ("postfix", "dovecot")


def missing_packages(packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """Packages dpkg does not report as installed."""
    missing = []
    for package in packages:
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, timeout=30, check=False
        )
        if "install ok installed" not in result.stdout:
            missing.append(package)
    return missing


def _quiet(command: list[str]) -> None:
    """Run a service-management command that may legitimately fail (no systemd in containers)."""
    if shutil.which(command[0]):
        subprocess.run(command, capture_output=True, timeout=60, check=False)


def stop_system_services() -> None:
    """Stop and disable the system's postfix and dovecot services if a postinst started them."""
    for service in SERVICES:
        _quiet(["systemctl", "stop", service])
        _quiet(["systemctl", "disable", service])
        _quiet(["service", service, "stop"])
        _quiet(["update-rc.d", service, "disable"])


def install() -> list[str]:
    """Install what is missing (root only); returns the packages installed."""
    missing = missing_packages()
    if not missing:
        return []
    if os.geteuid() != 0:
        raise SystemExit("need root to install: " + " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["debconf-set-selections"], input=DEBCONF, text=True, check=True, timeout=60)
    subprocess.run(["apt-get", "update", "-q"], check=True, timeout=600, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=True, timeout=1200, env=env)
    stop_system_services()
    return missing


def main() -> None:
    installed = install()
    stop_system_services()
    print("installed: " + (" ".join(installed) if installed else "nothing (all present)"), file=sys.stderr)


if __name__ == "__main__":
    main()
