"""`make bench`: the performance figures against their budgets (python -m bench)."""
