"""The book's network and its training: layers, convolution, pooling, the hand-written CPU step, the trainer, stacked members, the CUDA graph."""
