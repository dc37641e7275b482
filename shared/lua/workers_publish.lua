-- Announce the full worker list (built by the monitor) as one `workers` event.
-- KEYS[3..] none: the prelude's keys only
-- ARGV[4] JSON array of workers
-- Returns the event's seq.
return emit_raw('workers', '{"workers":' .. ARGV[4] .. '}', now_ms())
