"""errlib: learning from adversarial errors, as a course.

One module per idea: :mod:`~errlib.data`, :mod:`~errlib.models`,
:mod:`~errlib.train`, :mod:`~errlib.parallel`, :mod:`~errlib.attacks`,
:mod:`~errlib.errsets`, :mod:`~errlib.cache`, :mod:`~errlib.config`,
:mod:`~errlib.pipeline`, :mod:`~errlib.controls`, :mod:`~errlib.toy`,
:mod:`~errlib.plotting`, :mod:`~errlib.report`, :mod:`~errlib.reference`,
:mod:`~errlib.course`, :mod:`~errlib.progress`.
"""
__version__ = "0.1.0"
