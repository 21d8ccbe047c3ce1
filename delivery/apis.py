"""HTTP API of the delivery service: an operator accepting a waiting delivery, and the slot board."""

from datetime import date

from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from delivery import selectors, services
from lotus.api import validated
from lotus.auth import IsOperator
from lotus.messaging.unit_of_work import UnitOfWork

EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2999, 12, 31)


class AcceptDeliveryApi(APIView):
    """Delivery accepts an order that waits for it (operator only): a courier slot is booked now."""

    permission_classes = [IsAuthenticated, IsOperator]

    class InputSerializer(serializers.Serializer):
        idOrder = serializers.UUIDField()

    class OutputSerializer(serializers.Serializer):
        orderId = serializers.UUIDField(source="order_id")
        status = serializers.CharField()
        courierId = serializers.IntegerField(source="courier_id")
        slot = serializers.DateTimeField()

    def put(self, request):
        data = validated(self.InputSerializer, request)
        with UnitOfWork("delivery") as uow:
            delivery = services.delivery_accept(uow=uow, order_id=data["idOrder"])
        return Response(self.OutputSerializer(delivery).data)

    def post(self, request):
        return self.put(request)


class SlotBoardApi(APIView):
    """Booked places and capacity per courier for every hour of one day (UTC)."""

    class InputSerializer(serializers.Serializer):
        date = serializers.DateField(input_formats=["%Y-%m-%d"])

        def validate_date(self, value: date) -> date:
            if not EARLIEST_DAY <= value <= LATEST_DAY:
                raise serializers.ValidationError(f"Pick a day between {EARLIEST_DAY} and {LATEST_DAY}.")
            return value

    class OutputSerializer(serializers.Serializer):
        class CourierSlotSerializer(serializers.Serializer):
            courierId = serializers.IntegerField(source="courier_id")
            name = serializers.CharField()
            booked = serializers.IntegerField()
            capacity = serializers.IntegerField()

        slot = serializers.DateTimeField()
        couriers = CourierSlotSerializer(many=True)

    def get(self, request):
        data = validated(self.InputSerializer, request)
        board = selectors.slot_board(day=data["date"])
        return Response({"date": data["date"].isoformat(), "slots": self.OutputSerializer(board, many=True).data})
