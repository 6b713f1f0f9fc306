"""One-time codes: how they are drawn, the code service, and its DynamoDB store."""
