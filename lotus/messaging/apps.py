from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "lotus.messaging"
    label = "messaging"
    verbose_name = "Messaging"
