"""The session core: a brokered session with its collaborators handed in, relay and command capture."""
