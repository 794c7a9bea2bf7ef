"""Builds the image-classification dataset (PNG files, .lst files, manifest.json) from the CIFAR-100 tarball."""

__version__ = "0.1.0"
