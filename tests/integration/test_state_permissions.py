"""The state dir is the broker's alone: loosened modes are fixed loudly at start, strangers refused."""

from __future__ import annotations

import os
import pwd
import stat

import pytest

from tests.harness.accounts import ensure_local_account
from tests.support.broker import shell_broker


def test_loose_state_is_fixed_at_start_and_foreign_files_refused() -> None:
    proc = shell_broker()
    proc.start()
    proc.stop()
    state = proc.dir / "state"
    loose = {
        state: 0o755,
        state / "keys" / "masking.key": 0o644,
        state / "keys" / "vault.key": 0o640,
        state / "recordings": 0o755,
    }
    planted = state / "recordings" / "planted.cast"
    planted.write_text("{}\n")
    loose[planted] = 0o666
    for path, mode in loose.items():
        os.chmod(path, mode)
    proc.start()
    try:
        for path in loose:
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode & 0o077 == 0, f"{path} is still {mode:o}"
        log = proc.log()
        for path in loose:
            assert f"state: {path} was readable by other accounts; now owner-only" in log
        assert proc.run_ssh("alice", "run", "shell", "--", "true").returncode == 0
    finally:
        proc.stop()
    account = pwd.getpwnam(ensure_local_account())
    os.chown(planted, account.pw_uid, account.pw_gid)
    with pytest.raises(RuntimeError, match="broker did not start") as info:
        proc.start()
    assert f"{planted} belongs to uid {account.pw_uid}" in str(info.value)
    assert "refusing to use this state dir" in str(info.value)
