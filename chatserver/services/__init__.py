"""Conversations, routing host and forwarding, assist, credits, supervisor boards."""
