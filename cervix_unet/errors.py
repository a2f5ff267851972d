"""The errors the public API raises for bad input, and messages for people about any failure."""

from __future__ import annotations


class InvalidImageError(ValueError):
    """The input is not a usable image: not an image at all, truncated, too large or too small.

    The message is written for the person who supplied the file and contains no image data.
    """


_STAGES = {
    "read": "reading the file",
    "network": "running the model",
    "process": "making the outputs",
    "write": "writing the outputs",
}


def describe_error(err: BaseException, stage: str = "") -> str:
    """One sentence for the person whose file failed, whatever the exception: the
    ``InvalidImageError`` message as it is, plain words for memory and disk trouble, and for
    anything else its type and text (an app or a command adds how to see the details)."""
    if isinstance(err, InvalidImageError):
        return str(err)
    where = f" while {_STAGES.get(stage, stage)}" if stage else ""
    if isinstance(err, MemoryError):
        return f"There was not enough memory{where}; try a smaller photo or fewer workers."
    if isinstance(err, OSError) and err.strerror:
        target = f" ({err.filename})" if err.filename else ""
        return f"A file error occurred{where}: {err.strerror}{target}."
    text = str(err).strip().splitlines()
    detail = f": {text[0][:200]}" if text else ""
    return f"Unexpected error{where} ({type(err).__name__}{detail})."
