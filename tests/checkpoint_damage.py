"""Damaging a checkpoint on disk as a failed disk or an interrupted copy would: for the tests
of what a resume does with unreadable checkpoints."""

from jaxshape.run.checkpoints import FORMAT_FILE


def damage(checkpoint):
    """Overwrite every non-empty data file of one checkpoint folder with 7 zero bytes (orbax's
    metadata and jaxshape's format file stay, so the folder still looks like a checkpoint)."""
    for f in checkpoint.rglob("*"):
        if f.is_file() and f.stat().st_size > 0 and "metadata" not in f.name and f.name != FORMAT_FILE:
            f.write_bytes(b"\0" * 7)
