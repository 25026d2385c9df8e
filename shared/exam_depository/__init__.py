"""Exam Depository: the code every function shares, shipped to them as a Lambda layer."""
