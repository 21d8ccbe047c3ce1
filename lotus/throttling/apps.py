from django.apps import AppConfig


class ThrottlingConfig(AppConfig):
    name = "lotus.throttling"
    label = "throttling"
    verbose_name = "Throttle counters"
