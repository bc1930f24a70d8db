"""inpaint-bench: an evaluation harness for image inpainting and object erasure."""

__version__ = "0.1.0"
