from django.apps import AppConfig
from django.conf import settings

from lotus.conf import resolve


class LotusConfig(AppConfig):
    name = "lotus"
    verbose_name = "Lotus"

    def ready(self) -> None:
        # Every process refuses to start with an unknown or inconsistent Lotus setting.
        resolve(getattr(settings, "LOTUS", {}))
        # drf-spectacular finds authentication extensions by their being imported.
        from lotus import schema  # noqa: F401
