"""Just-in-time access: approval requests, decisions and the grants they yield."""
