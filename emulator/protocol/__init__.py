"""What dockerd sends to plugins and expects back: pure data and functions, no I/O."""
