"""The SSH front door: asyncssh server, authentication, channels, SSH commands and TUI runners."""
