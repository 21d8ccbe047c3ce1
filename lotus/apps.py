from django.apps import AppConfig


class LotusConfig(AppConfig):
    name = "lotus"
    verbose_name = "Lotus"

    def ready(self) -> None:
        # drf-spectacular finds authentication extensions by their being imported.
        from lotus import schema  # noqa: F401
