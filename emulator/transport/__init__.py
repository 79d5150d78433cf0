"""trio I/O at the edge: connections to plugins and dockerd's plugin HTTP client."""
