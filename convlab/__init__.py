"""convlab: a terminal lab for the convolutional networks of chapter 6 of
Nielsen's *Neural Networks and Deep Learning*."""

__version__ = "0.2.0"
