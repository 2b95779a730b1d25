"""The science as cached stages: each ``get_*`` builds (or loads) one payload from its settings and
its upstream stages. Imports :mod:`errlib.core` only; the code of this package and of core is what
a stage's cache key hashes."""
