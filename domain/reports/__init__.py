"""Weekly and monthly email reports per site member who opts in."""
