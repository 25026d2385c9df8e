"""The product on one machine without Docker or AWS: the same handlers, behind a small gateway.

`make run` starts it: an embedded PostgreSQL, MiniStack for S3 and SQS (it enforces presigned
POST policies as S3 does), the gateway on 127.0.0.1, and the delivery of S3 notifications to the
record function.
"""
