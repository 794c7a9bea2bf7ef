"""Single-purpose constructs the model stack is composed of."""
