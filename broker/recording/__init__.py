"""Session recording: the recorder client, the recorder process and retention."""
