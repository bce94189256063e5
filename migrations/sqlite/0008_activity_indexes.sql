-- The console pages through every tenant's invocations and audit events newest first, and
-- finds all records of one request: without these, each page sorted the whole table.
CREATE INDEX invocations_created ON invocations (created_at, id);
CREATE INDEX audit_events_created ON audit_events (created_at, id);
CREATE INDEX audit_events_request ON audit_events (request_id);
