"""HTTP API of the notifications service."""

from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from lotus.api import validated
from lotus.auth import customer_id
from lotus.pagination import PageInputSerializer, page
from notifications import selectors
from notifications.models import Notification


class NotificationListApi(APIView):
    """The caller's notifications, oldest first (optionally of one order), a page at a time:
    ``?limit=`` and ``?after=<id>``, with a ``Link`` to the next page (lotus.pagination)."""

    output_many = True

    class InputSerializer(PageInputSerializer):
        orderId = serializers.UUIDField(required=False, help_text="Only this order's notifications.")
        after = serializers.IntegerField(
            required=False, min_value=0, max_value=2**63 - 1, help_text="The id of the last notification already seen."
        )

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        orderId = serializers.UUIDField(source="order_id")
        event = serializers.ChoiceField(choices=Notification.Event.choices)
        message = serializers.CharField()
        createdAt = serializers.DateTimeField(source="created_at")

    def get(self, request):
        data = validated(self.InputSerializer, request)
        notifications = selectors.notification_list(
            customer_id=customer_id(request), order_id=data.get("orderId"), after=data.get("after")
        )
        shown, headers = page(notifications, request=request, limit=data["limit"], cursor=lambda item: item.id)
        return Response(self.OutputSerializer(shown, many=True).data, headers=headers)
