-- Every synced row records whether it came from live or test mode (null
-- for a placeholder customer nobody has described yet).
ALTER TABLE end_customers ADD COLUMN livemode boolean;
ALTER TABLE payments ADD COLUMN livemode boolean;
ALTER TABLE subscriptions ADD COLUMN livemode boolean;
