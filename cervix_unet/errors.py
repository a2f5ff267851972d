"""The errors the public API raises for bad input."""


class InvalidImageError(ValueError):
    """The input is not a usable image: not an image at all, truncated, too large or too small.

    The message is written for the person who supplied the file and contains no image data.
    """
