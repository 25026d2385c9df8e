DROP TRIGGER exam_audit_head ON exam;
DROP TABLE audit_checkpoint;
DROP TABLE audit_event;
DROP TABLE audit_head;
DROP FUNCTION audit_event_follows();
DROP FUNCTION audit_refuse_truncate();
DROP FUNCTION audit_refuse_change();
DROP FUNCTION audit_head_for_exam();
ALTER TABLE student DROP COLUMN paper_first_linked_at;
