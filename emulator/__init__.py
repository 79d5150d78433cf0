"""docker-plugin-emulator: an in-process fake Docker daemon for plugin authors."""
