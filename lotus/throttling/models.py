"""Throttle counters; the table exists in every service database (each counts its own requests)."""

from django.db import models


class ThrottleCounter(models.Model):
    """Requests (``hits``) of one client (``client``: a hash of the scope and the client) in the
    current fixed window. Written only by :mod:`lotus.throttling.counters`, in one statement."""

    client = models.CharField(max_length=64, primary_key=True)
    window_start = models.BigIntegerField(help_text="Epoch seconds, by the database's clock.")
    expires = models.BigIntegerField(help_text="Epoch seconds: the window's end; the relay prunes later rows.")
    hits = models.IntegerField()

    class Meta:
        db_table = "lotus_throttle"
        indexes = [models.Index(fields=["expires"], name="throttle_expires_idx")]

    def __str__(self) -> str:
        return f"{self.client[:12]}…: {self.hits} since {self.window_start}"
