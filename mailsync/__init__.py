"""Provider connections, sync, inbound mail and sending. Built out by the provider issues."""
