-- Each tenant's IANA timezone (such as Europe/Paris), for its local business date; NULL means
-- UTC.
ALTER TABLE tenants ADD COLUMN timezone TEXT;
