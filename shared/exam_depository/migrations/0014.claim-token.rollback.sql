-- The older layer sends without confirming a claim; the tokens go with the column.

ALTER TABLE message DROP COLUMN claim_token;
