"""State files: JSON documents with a format version, never pickle."""

from edgesieve.state.files import model_fingerprint, read_state, write_state

__all__ = ["model_fingerprint", "read_state", "write_state"]
