"""/admin for team leads: sign-in, the dashboard, settings and parked write-backs; `admins` CLI commands."""
