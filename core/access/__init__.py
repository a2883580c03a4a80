"""Who may act, and with what: the audit log, sealed secrets, daily broker logins."""
