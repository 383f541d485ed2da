"""Per-site alert rules: thresholds on visitors and event rates, checked in process on an interval and
delivered to a webhook with retries and an HMAC-SHA256 signature."""
