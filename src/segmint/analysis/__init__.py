"""Stateless analysis of sales files from the command line (``segmint abc`` / ``segmint rfm``)."""
