"""Quality metrics: classification, keyphrase matching, text similarity, paired tests.

Pure functions over plain Python/numpy values; no model is loaded here.
"""
