"""Masking of sensitive values in everything that flows back to users, recordings and logs."""

from __future__ import annotations

from broker.masking.builtin import BUILTIN_BY_NAME, BUILTIN_DETECTORS
from broker.masking.detector import Category, Detector, Trigger
from broker.masking.engine import MaskingEngine, Span
from broker.masking.events import MaskCounter, MaskEvent, MaskFailure
from broker.masking.policy import ColumnRule, MaskingPolicy, Mode, Strategy, parse_masking_policy
from broker.masking.stream import NOTICE, StreamMasker

__all__ = [
    "BUILTIN_BY_NAME",
    "BUILTIN_DETECTORS",
    "NOTICE",
    "Category",
    "ColumnRule",
    "Detector",
    "MaskCounter",
    "MaskEvent",
    "MaskFailure",
    "MaskingEngine",
    "MaskingPolicy",
    "Mode",
    "Span",
    "Strategy",
    "StreamMasker",
    "Trigger",
    "parse_masking_policy",
]
