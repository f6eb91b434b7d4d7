"""The onboarding kit: scaffold a new utility's files, check them, ping its system (`gateway connector`)."""
