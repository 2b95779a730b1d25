"""ML primitives on in-memory tensors (pixels in [0, 1], normalisation inside the model): data,
models, training, attacks, seeds, progress bars and CPU threads. Imports nothing else from errlib."""
