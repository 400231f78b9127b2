"""The controls map of an evidence bundle: which file proves which ISO 27001 or NIST control."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

SLICE: Final = "audit/audit.jsonl"
PROOF: Final = "verification.txt, verification.json, public_key.pem, public_key.fingerprint.txt"

# (framework, control, title, files that prove it)
CONTROLS: Final[tuple[tuple[str, str, str, tuple[str, ...]], ...]] = (
    ("ISO/IEC 27001:2013", "A.9.2.1", "User registration and de-registration",
     ("tables/logins.csv", "tables/system.csv")),
    ("ISO/IEC 27001:2013", "A.9.2.3", "Management of privileged access rights",
     ("tables/approvals.csv", "tables/grants.csv", "tables/sessions.csv", "tables/denials.csv")),
    ("ISO/IEC 27001:2013", "A.12.4.1", "Event logging",
     (SLICE, "tables/*.csv", "tables/*.json")),
    ("ISO/IEC 27001:2013", "A.12.4.3", "Administrator and operator logs",
     ("tables/commands.csv", "tables/statements.csv", "tables/sessions.csv",
      "tables/recordings.csv")),
    ("ISO/IEC 27001:2013", "A.18.1.4", "Privacy and protection of PII",
     ("tables/masking.csv",)),
    ("ISO/IEC 27001:2022", "5.15", "Access control",
     ("tables/sessions.csv", "tables/denials.csv", "tables/approvals.csv")),
    ("ISO/IEC 27001:2022", "5.18", "Access rights",
     ("tables/approvals.csv", "tables/grants.csv", "tables/logins.csv")),
    ("ISO/IEC 27001:2022", "8.2", "Privileged access rights",
     ("tables/sessions.csv", "tables/commands.csv", "tables/approvals.csv", "tables/grants.csv")),
    ("ISO/IEC 27001:2022", "8.11", "Data masking", ("tables/masking.csv",)),
    ("ISO/IEC 27001:2022", "8.15", "Logging", (SLICE, "verification.txt")),
    ("ISO/IEC 27001:2022", "8.16", "Monitoring activities",
     ("tables/sessions.csv", "tables/commands.csv", "tables/statements.csv",
      "tables/denials.csv", "tables/recordings.csv")),
    ("NIST SP 800-53", "AC-2", "Account management", ("tables/logins.csv", "tables/system.csv")),
    ("NIST SP 800-53", "AC-3", "Access enforcement",
     ("tables/denials.csv", "tables/sessions.csv", "tables/approvals.csv")),
    ("NIST SP 800-53", "AC-6", "Least privilege", ("tables/approvals.csv", "tables/grants.csv")),
    ("NIST SP 800-53", "AU-2", "Event logging", (SLICE,)),
    ("NIST SP 800-53", "AU-3", "Content of audit records", (SLICE, "tables/*.json")),
    ("NIST SP 800-53", "AU-9", "Protection of audit information",
     ("verification.txt", "verification.json", "audit/anchor.json", "audit/checkpoints.jsonl")),
    ("NIST SP 800-53", "AU-10", "Non-repudiation", (SLICE, "public_key.pem",
     "public_key.fingerprint.txt")),
    ("NIST SP 800-53", "IA-2", "Identification and authentication", ("tables/logins.csv",)),
)  # fmt: skip


def controls_markdown(
    counts: Mapping[str, int], *, since: str, until: str, fingerprint: str
) -> str:
    """Render ``controls.md``: one line per control naming the files that prove it.

    Args:
        counts: Rows per table name (e.g. ``{"logins": 12, …}``).
        since: Start of the period (audit time format).
        until: End of the period.
        fingerprint: The signing key's fingerprint.

    Returns:
        The Markdown text.
    """
    lines = [
        "# Controls evidence",
        "",
        f"Period: {since} to {until}. Records are signed with the Ed25519 key {fingerprint};",
        f"the chain and every signature are re-checked by `gatehouse evidence verify` ({PROOF}).",
        "",
    ]
    framework = ""
    for name, control, title, files in CONTROLS:
        if name != framework:
            lines += ["", f"## {name}", ""]
            framework = name
        shown = ", ".join(_with_count(path, counts) for path in files)
        lines.append(f"- **{control}** {title}: {shown}")
    lines += [
        "",
        "## Tables",
        "",
        *(f"- `tables/{table}.csv` / `.json`: {count} records" for table, count in counts.items()),
        "",
        "Masking events carry the rule, the count and a keyed hash (BLAKE2b) of each value, never the",
        "value. CSV cells that a spreadsheet would run as formulas start with an apostrophe; the",
        "JSON tables hold the exact values.",
    ]
    return "\n".join(lines) + "\n"


def _with_count(path: str, counts: Mapping[str, int]) -> str:
    table = path.removeprefix("tables/").rsplit(".", 1)[0]
    if table in counts:
        return f"`{path}` ({counts[table]} records)"
    return f"`{path}`"
