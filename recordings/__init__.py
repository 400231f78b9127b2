"""Session recordings: asciicast v2 format, keyframe index, search and replay (pure)."""
