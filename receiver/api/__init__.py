"""HTTP API: the admin API (incidents, automation) and the operational endpoints."""
