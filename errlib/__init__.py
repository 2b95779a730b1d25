"""errlib: learning from adversarial errors, as a course.

One module per idea: :mod:`~errlib.data`, :mod:`~errlib.models`,
:mod:`~errlib.train`, :mod:`~errlib.parallel`, :mod:`~errlib.attacks`,
:mod:`~errlib.errsets`, :mod:`~errlib.seeds`, :mod:`~errlib.cache`,
:mod:`~errlib.config`, :mod:`~errlib.pipeline` (Part I), :mod:`~errlib.leakage`
(the robust judge and leakage-controlled students), :mod:`~errlib.wallace`
(Part II), :mod:`~errlib.controls`, :mod:`~errlib.toy`, :mod:`~errlib.plotting`,
:mod:`~errlib.toy_plots`, :mod:`~errlib.report`, :mod:`~errlib.reference`,
:mod:`~errlib.course` (with :mod:`~errlib.runner`, :mod:`~errlib.sweep`,
:mod:`~errlib.scheduler` and :mod:`~errlib.ahead`),
:mod:`~errlib.site`, :mod:`~errlib.exercises` (with
reference answers in :mod:`~errlib.solutions`), :mod:`~errlib.progress`.
"""
__version__ = "0.1.0"
