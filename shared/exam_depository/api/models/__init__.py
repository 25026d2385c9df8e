"""Response models: what the API answers, the HTTP contract of docs/DESIGN.md, in pydantic. What a
caller may ask is in `domain/` (`inputs.py`, `exam_inputs.py`, `member_inputs.py`); `views.py` makes
these from rows.

One module per audience, so that a function loads only the models it answers (a model class
costs about 0.2 ms to define, even with its validator deferred): `exams`, `roster`, `exports` (an
examiner's), `members` (an exam team's), `papers` (a question paper's), `uploads` (a student's),
`reviews` (a reviewer's), `submissions` (a recorded file, on a roster and a student's page), and
`common` (the base, the problem every route may answer, and what more than one audience
shares). This package imports none of them."""
