"""Protection: spam, phishing and dangerous attachments, judged before a message is stored."""

from __future__ import annotations

from .learning import Trainer, learn
from .pipeline import Outcome, Pipeline, Policy
from .verdict import Action, Kind, Signal, Verdict

__all__ = ["Action", "Kind", "Outcome", "Pipeline", "Policy", "Signal", "Trainer", "Verdict", "learn"]
