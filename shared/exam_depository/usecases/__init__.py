"""One module per caller: what an examiner, a student, a reviewer, the recorder or a job does."""
