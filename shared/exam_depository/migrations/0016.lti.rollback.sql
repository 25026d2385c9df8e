-- The older layer knows no LMS. A teacher's `lti:` key goes first (its check goes with the
-- tables): those examiners keep their memberships, unusable without a launch. Students made from
-- a platform stay on their rosters as any student.
DELETE FROM examiner_key WHERE api_key_id LIKE 'lti:%';
ALTER TABLE examiner_key DROP CONSTRAINT examiner_key_lti_form;
DROP TABLE lti_grant;
DROP TABLE lti_sync;
DROP TABLE lti_score;
DROP TABLE lti_ticket;
DROP TABLE lti_learner;
DROP TABLE lti_link;
DROP TABLE lti_deep_link;
DROP TABLE lti_user;
DROP TABLE lti_login;
DROP TABLE lti_offer;
DROP TABLE lti_deployment;
DROP TABLE lti_registration;
