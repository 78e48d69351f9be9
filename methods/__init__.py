"""conceptbench: benchmark the ways to teach a text-to-image diffusion model a new concept."""

__version__ = "0.1.0"
