"""The UI's pages, one module each ("Sign in", "Account" with its phone and two-step parts, "Admin"), the prompt
that confirms it is you before an account change, and the local stack's dev inbox."""
