"""Project-wide fixtures: the real components of the test harness."""

from tests.harness.fixtures import *  # noqa: F403
