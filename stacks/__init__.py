"""Deployment units (stacks) of scones-vision and the logical units (constructs) they are built from."""
