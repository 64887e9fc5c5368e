"""The streaming HTML pipeline: a tag scanner and ordered rewrite stages."""
