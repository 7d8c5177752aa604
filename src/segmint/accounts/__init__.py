"""Organizations, users, roles and the actor every service call carries."""
