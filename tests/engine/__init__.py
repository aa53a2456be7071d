"""Tests of the pure decision engine (engine/)."""
