-- depends: 0013.mail
-- Each claim of a message writes a fresh token; the sender confirms it just before it calls SES
-- and sends nothing if the token is gone (the sweep queued the message again and another sender
-- may have it). Additive: an older layer neither writes nor reads it.

ALTER TABLE message ADD COLUMN claim_token uuid;
