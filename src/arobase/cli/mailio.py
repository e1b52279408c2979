"""`arobase import` and `arobase export`: progress and summary around services.mailio."""

from __future__ import annotations

import argparse
import sys

from ..config import Config
from ..services.mailio import Exporter, Importer, MailIOError, Report
from .admin import accounts_service
from .output import Progress, fail


def import_command(args: argparse.Namespace, config: Config) -> int:
    with accounts_service(config) as accounts:
        account = accounts.get(args.address)
        try:
            importer = Importer(accounts.store, account.id, args.path, folder=args.folder)
            with Progress(importer.total, f"importing {args.path}") as progress:
                report = importer.run(progress.advance)
        except MailIOError as e:
            fail(str(e))
    return _summary("imported", "into", report)


def export_command(args: argparse.Namespace, config: Config) -> int:
    with accounts_service(config) as accounts:
        account = accounts.get(args.address)
        try:
            exporter = Exporter(
                accounts.store,
                account.id,
                args.path,
                format=args.format,
                folder=args.folder,
                hostname=config.server.hostname,
            )
            with Progress(exporter.total, f"exporting to {args.path}") as progress:
                report = exporter.run(progress.advance)
        except MailIOError as e:
            fail(str(e))
    return _summary("exported", "from", report)


def _summary(verb: str, preposition: str, report: Report) -> int:
    """Warnings and skipped messages on stderr, the totals on stdout; exit 1 if anything was skipped."""
    for warning in report.warnings:
        print(f"arobase: warning: {warning}", file=sys.stderr)
    for skipped in report.skipped:
        print(f"arobase: skipped: {skipped}", file=sys.stderr)
    messages, folders = report.messages, len(report.folders)
    print(
        f"{verb} {messages} message{'' if messages == 1 else 's'}"
        f" {preposition} {folders} folder{'' if folders == 1 else 's'}"
    )
    if report.skipped:
        print(f"arobase: error: {len(report.skipped)} messages could not be {verb}", file=sys.stderr)
        return 1
    return 0
