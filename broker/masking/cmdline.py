"""Built-in detectors for credentials written on a command line."""

from __future__ import annotations

import re

from broker.masking.detector import Detector

_VALUE = rb"([^\s\"';|&<>]{4,512})"
_QUOTED = rb"(?:'([^'\r\n]{1,512})'|\"([^\"\r\n]{1,512})\"|" + _VALUE + rb")"

PASSWORD_OPTION = Detector(
    name="password_option",
    category="secret",
    regex=re.compile(
        rb"(?<![A-Za-z0-9_./\-])(?i:mysql\w*|mariadb\w*)(?:[ \t]+[^\s;|&]+)*?[ \t]+-p"
        + _QUOTED
        + rb"|(?<![A-Za-z0-9_./\-])sshpass[ \t]+-p[ \t]*"
        + _QUOTED
    ),
    group=(1, 2, 3, 4, 5, 6),
    anchors_ci=(b"mysql", b"mariadb", b"sshpass"),
    window=(16, 600),
)
"""A password given as an option: ``mysql -pSECRET`` (MySQL and MariaDB clients, the value
attached to ``-p``; ``-p DB`` with a space is a prompt), ``sshpass -p SECRET``."""

COMMAND_LINE_DETECTORS: tuple[Detector, ...] = (PASSWORD_OPTION,)
