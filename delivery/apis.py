"""HTTP API of the delivery service: an operator accepting a waiting delivery, and the slot board."""

from datetime import date

from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from delivery import selectors, services
from delivery.models import DeliveryRequest
from lotus.api import validated
from lotus.auth import IsOperator
from lotus.messaging.unit_of_work import UnitOfWork

EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2999, 12, 31)


class AcceptDeliveryApi(APIView):
    """Delivery accepts an order that waits for it (operator only): a courier slot is booked now."""

    permission_classes = [IsAuthenticated, IsOperator]
    error_statuses = {
        404: "No delivery request for this order (yet).",
        409: "The delivery is not waiting to be accepted, or no courier slot is free.",
    }

    class InputSerializer(serializers.Serializer):
        idOrder = serializers.UUIDField()

    class OutputSerializer(serializers.Serializer):
        orderId = serializers.UUIDField(source="order_id")
        status = serializers.ChoiceField(choices=DeliveryRequest.Status.choices)
        courierId = serializers.IntegerField(source="courier_id")
        slot = serializers.DateTimeField()

    def put(self, request):
        data = validated(self.InputSerializer, request)
        with UnitOfWork("delivery") as uow:
            delivery = services.delivery_accept(uow=uow, order_id=data["idOrder"])
        return Response(self.OutputSerializer(delivery).data)

    def post(self, request):
        return self.put(request)


class DayField(serializers.DateField):
    """A calendar day within the years the slot board covers."""

    openapi = {
        # The years of EARLIEST_DAY to LATEST_DAY, which a JSON schema can only say as a pattern.
        "pattern": "^2[0-9]{3}-[0-9]{2}-[0-9]{2}$",
        "description": f"A day between {EARLIEST_DAY} and {LATEST_DAY}, as YYYY-MM-DD.",
    }


class SlotBoardApi(APIView):
    """Booked places and capacity per courier for every hour of one day (UTC)."""

    class InputSerializer(serializers.Serializer):
        date = DayField(input_formats=["%Y-%m-%d"])

        def validate_date(self, value: date) -> date:
            if not EARLIEST_DAY <= value <= LATEST_DAY:
                raise serializers.ValidationError(f"Pick a day between {EARLIEST_DAY} and {LATEST_DAY}.")
            return value

    class OutputSerializer(serializers.Serializer):
        class SlotSerializer(serializers.Serializer):
            class CourierSlotSerializer(serializers.Serializer):
                courierId = serializers.IntegerField(source="courier_id")
                name = serializers.CharField()
                booked = serializers.IntegerField(help_text="Deliveries booked in this hour.")
                capacity = serializers.IntegerField(help_text="Deliveries the courier can take in an hour.")

            slot = serializers.DateTimeField(help_text="The start of the hour (UTC).")
            couriers = CourierSlotSerializer(many=True)

        date = serializers.DateField()
        slots = SlotSerializer(many=True, help_text="The day's 24 hours, in order.")

    def get(self, request):
        data = validated(self.InputSerializer, request)
        board = selectors.slot_board(day=data["date"])
        return Response(self.OutputSerializer({"date": data["date"], "slots": board}).data)
