-- How many module calls a tenant may run at once, per plan. Tenants without a plan get the
-- host's default (8).
UPDATE plans SET entitlements = REPLACE(entitlements, '"callsPerMinute":600}', '"callsPerMinute":600,"concurrentCalls":4}')
  WHERE id = '6a1f7c0e-3b1d-4c55-9a43-0c7e2f0b9d11';
UPDATE plans SET entitlements = REPLACE(entitlements, '"callsPerMinute":3000}', '"callsPerMinute":3000,"concurrentCalls":16}')
  WHERE id = '1ef168c5-66e9-4d11-8f51-32301dbce0d4';
UPDATE plans SET entitlements = REPLACE(entitlements, '"callsPerMinute":12000}', '"callsPerMinute":12000,"concurrentCalls":32}')
  WHERE id = 'b7e2d5a4-8c9f-4e3a-a1b6-5d4c3b2a1f00';
