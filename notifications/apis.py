"""HTTP API of the notifications service."""

from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from lotus.api import validated
from lotus.auth import customer_id
from notifications import selectors
from notifications.models import Notification


class NotificationListApi(APIView):
    """The caller's notifications, oldest first (optionally of one order)."""

    output_many = True

    class InputSerializer(serializers.Serializer):
        orderId = serializers.UUIDField(required=False, help_text="Only this order's notifications.")

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        orderId = serializers.UUIDField(source="order_id")
        event = serializers.ChoiceField(choices=Notification.Event.choices)
        message = serializers.CharField()
        createdAt = serializers.DateTimeField(source="created_at")

    def get(self, request):
        data = validated(self.InputSerializer, request)
        notifications = selectors.notification_list(customer_id=customer_id(request), order_id=data.get("orderId"))
        return Response(self.OutputSerializer(notifications, many=True).data)
