"""errlib: learning from adversarial errors, as a course.

One module per idea: :mod:`~errlib.data`, :mod:`~errlib.models`,
:mod:`~errlib.train`, :mod:`~errlib.attacks`, :mod:`~errlib.errsets`,
:mod:`~errlib.cache`, :mod:`~errlib.config`, :mod:`~errlib.pipeline`,
:mod:`~errlib.plotting`.
"""
__version__ = "0.1.0"
