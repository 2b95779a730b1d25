"""What a learner sees besides numbers: figures, exercises with checkers, reference solutions.
Imports :mod:`errlib.core` and :mod:`errlib.stages`."""
