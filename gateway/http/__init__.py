"""HTTP pieces without I/O: headers, forwarding, targets, errors, limits, page security."""
