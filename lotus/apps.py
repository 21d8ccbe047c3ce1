from django.apps import AppConfig


class LotusConfig(AppConfig):
    name = "lotus"
    verbose_name = "Lotus"
