"""MNIST: the IDX reader, checksums, the book's split and its expansion."""
