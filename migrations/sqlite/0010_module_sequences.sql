-- Numbers a module takes from a named sequence (`kv.next-number`), such as POS's ticket
-- numbers. Servers reserve blocks of numbers here and hand them out from memory, so a busy
-- sequence is not one hot kv key that every call rewrites.
CREATE TABLE module_sequences (
    tenant_id TEXT NOT NULL,
    module TEXT NOT NULL,
    name TEXT NOT NULL,
    next_block BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, module, name)
);
