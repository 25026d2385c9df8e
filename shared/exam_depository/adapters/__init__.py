"""One module per outside system (PostgreSQL, S3, KMS, SQS): failures leave as domain errors."""
