"""The device loop: sources, the streaming filter, and the torch-backed filter."""
