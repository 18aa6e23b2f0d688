"""Believable demo data for `seed_demo`: a fixed catalogue, seeded draws, bulk inserts, the seeding (seed)."""
