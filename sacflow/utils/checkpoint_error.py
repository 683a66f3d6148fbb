"""The error a resume with no intact checkpoint stops with. Apart from checkpoint.py, which imports
torch, so that the launcher can name it while torch is not imported yet."""


class CheckpointError(RuntimeError):
    """No intact checkpoint to resume from; the message is one line."""
