"""The browser tracker (t.js) and snippet generation."""
