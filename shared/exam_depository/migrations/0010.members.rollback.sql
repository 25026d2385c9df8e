DROP TRIGGER exam_owner_on_assign ON exam;
DROP TRIGGER exam_owner_on_insert ON exam;
DROP FUNCTION exam_creator_is_owner();
DROP TABLE invitation;
DROP TABLE exam_member;
DROP FUNCTION exam_keeps_an_owner();
ALTER TABLE exam DROP CONSTRAINT exam_id_slug_key;
ALTER TABLE examiner DROP CONSTRAINT examiner_public_id_key;
ALTER TABLE examiner DROP COLUMN public_id;
