-- lms-relay prunes the idempotency record after LMS_COMMAND_LOG_RETENTION_HOURS:
-- the oldest rows first, found by time.
CREATE INDEX command_log_by_time ON command_log (recorded_at);
