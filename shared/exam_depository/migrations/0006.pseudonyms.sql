-- depends: 0005.retention-from-window-end
-- Pseudonyms: in an anonymous exam a student is named by a pseudonym (anon-7K3QX2) wherever a
-- name leaves the examiner's roster: receipts, an export's folders and manifest. Random, unique
-- in its exam, never changed; the roster maps it back to the student. New students get theirs
-- from the application (codes.new_pseudonym); existing students get one here, drawn alike: six
-- symbols of the codes' alphabet (Crockford base32), each from one random byte of
-- gen_random_uuid() (its first six bytes carry no version bits; 256 is a multiple of 32).
CREATE FUNCTION pg_temp.new_pseudonym() RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT 'anon-' || string_agg(substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', 1 + get_byte(r.bytes, i) % 32, 1), ''
                                 ORDER BY i)
    FROM (SELECT uuid_send(gen_random_uuid()) AS bytes) r, generate_series(0, 5) i
$$;

ALTER TABLE student ADD COLUMN pseudonym text;
UPDATE student SET pseudonym = pg_temp.new_pseudonym();
-- Two students of one exam that drew the same pseudonym (rare): the later draws again, until none do.
DO $$
BEGIN
    LOOP
        UPDATE student s SET pseudonym = pg_temp.new_pseudonym()
        WHERE EXISTS (SELECT 1 FROM student o WHERE o.exam_id = s.exam_id AND o.pseudonym = s.pseudonym AND o.id < s.id);
        EXIT WHEN NOT FOUND;
    END LOOP;
END
$$;
DROP FUNCTION pg_temp.new_pseudonym();

ALTER TABLE student ALTER COLUMN pseudonym SET NOT NULL;
ALTER TABLE student ADD CONSTRAINT student_pseudonym_shape CHECK (pseudonym ~ '^anon-[0-9A-HJKMNP-TV-Z]{6}$');
CREATE UNIQUE INDEX student_pseudonym_per_exam ON student (exam_id, pseudonym);
