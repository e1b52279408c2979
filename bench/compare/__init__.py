"""Arobase against the classic Postfix + Dovecot stack: same workloads, same client, same machine."""
