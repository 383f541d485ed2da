"""Browser tests: a real Chromium (Debian's) driven through Playwright against a real Eddy process."""
