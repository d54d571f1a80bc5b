"""The audit's old package; the audit is :mod:`convzoo.inspect.audit` (re-exported here)."""
