"""HTTP API of the stock service: what is in the warehouse, and the operator receiving goods."""

from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from lotus.api import validated
from lotus.auth import IsOperator, TokenAuthentication
from lotus.messaging.unit_of_work import UnitOfWork
from stock import selectors, services

MAX_RECEIVED_AT_ONCE = 100_000


class StockItemOutputSerializer(serializers.Serializer):
    idSubscription = serializers.IntegerField(source="product_id")
    onHand = serializers.IntegerField(source="on_hand")
    reserved = serializers.IntegerField()
    received = serializers.IntegerField()


class AddStockApi(APIView):
    """The warehouse received goods (operator only); waiting reservations are served oldest first.

    A bearer token only, never a browser session: the SPEC's GET changes state, and a session
    would let any page the operator visits (``<img src=".../stock/add?...">``) do it, CSRF
    checks being for unsafe methods only."""

    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated, IsOperator]
    error_statuses = {404: "The product has no stock row (not in the catalog)."}

    class InputSerializer(serializers.Serializer):
        idSubscription = serializers.IntegerField(min_value=1, max_value=2_147_483_647)
        count = serializers.IntegerField(
            min_value=1, max_value=MAX_RECEIVED_AT_ONCE, help_text="How many items the warehouse received."
        )

    class OutputSerializer(serializers.Serializer):
        idSubscription = serializers.IntegerField(source="item.product_id")
        onHand = serializers.IntegerField(source="item.on_hand")
        reserved = serializers.IntegerField(source="item.reserved")
        received = serializers.IntegerField(source="item.received")
        served = serializers.ListField(child=serializers.UUIDField(), help_text="Orders whose reservation was served.")

    def get(self, request):
        return self.post(request)

    def post(self, request):
        data = validated(self.InputSerializer, request)
        with UnitOfWork("stock") as uow:
            item, served = services.stock_receive(uow=uow, product_id=data["idSubscription"], count=data["count"])
        return Response(self.OutputSerializer({"item": item, "served": served}).data)


class StockListApi(APIView):
    OutputSerializer = StockItemOutputSerializer
    output_many = True

    def get(self, request):
        return Response(StockItemOutputSerializer(selectors.stock_item_list(), many=True).data)
