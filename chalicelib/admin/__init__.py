"""The admin dashboard's core: who is an admin, account lookup, actions with their audit entries, metrics."""
