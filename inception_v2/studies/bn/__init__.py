"""Batch Normalization's comparison in miniature (Ioffe & Szegedy, 2015): ``study``, its data
and its results."""
