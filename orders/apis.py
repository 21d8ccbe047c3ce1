"""HTTP API of the orders service."""

from django.utils import timezone
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from lotus.api import validated
from lotus.auth import customer_id
from lotus.idempotency.decorators import idempotent
from lotus.messaging.unit_of_work import UnitOfWork
from lotus.pagination import PageInputSerializer, page
from lotus.throttling.throttles import CustomerThrottle
from orders import selectors, services
from orders.models import Order


class TransitionSerializer(serializers.Serializer):
    """One step of the saga: ``{"from", "to", "reason", "at"}`` (``from`` is null for the first)."""

    at = serializers.DateTimeField()

    def to_representation(self, instance):
        at = super().to_representation(instance)["at"]
        return {"from": instance.source or None, "to": instance.target, "reason": instance.reason, "at": at}


class OrderOutputSerializer(serializers.Serializer):
    orderId = serializers.UUIDField(source="id")
    status = serializers.CharField()
    idSubscription = serializers.IntegerField(source="product_id")
    price = serializers.DecimalField(max_digits=14, decimal_places=2)
    deliverySlot = serializers.DateTimeField(source="delivery_slot", allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")
    refunded = serializers.DecimalField(max_digits=14, decimal_places=2)
    history = TransitionSerializer(many=True)


class PlaceThrottle(CustomerThrottle):
    """Orders placed by one customer: ``LOTUS_THROTTLE_PLACE``."""

    service, scope = "orders", "place"


class PlaceOrderApi(APIView):
    """Place an order for a subscription; the saga runs asynchronously (202)."""

    OutputSerializer = OrderOutputSerializer
    success_status = 202
    throttle_classes = [PlaceThrottle]

    class InputSerializer(serializers.Serializer):
        idSubscription = serializers.IntegerField(min_value=1, max_value=2_147_483_647)
        deliverySlot = serializers.DateTimeField(required=False, allow_null=True)

        def validate_deliverySlot(self, value):
            if value is None:
                return None
            if value.minute or value.second or value.microsecond:
                raise serializers.ValidationError("A delivery slot starts on the hour, e.g. 2030-01-01T10:00:00Z.")
            if value <= timezone.now():
                raise serializers.ValidationError("The delivery slot must be in the future.")
            return value

    @idempotent(service="orders")
    def post(self, request, uow: UnitOfWork):
        data = validated(self.InputSerializer, request)
        order = services.order_place(
            uow=uow,
            customer_id=customer_id(request),
            product_id=data["idSubscription"],
            delivery_slot=data.get("deliverySlot"),
        )
        return Response(OrderOutputSerializer(order).data, status=status.HTTP_202_ACCEPTED)


class OrderDetailApi(APIView):
    OutputSerializer = OrderOutputSerializer

    def get(self, request, order_id):
        order = selectors.order_get(order_id=order_id, customer_id=customer_id(request))
        return Response(OrderOutputSerializer(order).data)


class OrderListApi(APIView):
    """The caller's orders, oldest first, a page at a time: ``?limit=`` and ``?after=<orderId>``,
    with a ``Link`` to the next page (lotus.pagination)."""

    OutputSerializer = OrderOutputSerializer
    output_many = True

    class InputSerializer(PageInputSerializer):
        after = serializers.UUIDField(required=False, help_text="The orderId of the last order already seen.")

    def get(self, request):
        data = validated(self.InputSerializer, request)
        orders = selectors.order_list(customer_id=customer_id(request), after=data.get("after"))
        shown: list[Order]
        shown, headers = page(orders, request=request, limit=data["limit"], cursor=lambda order: order.id)
        return Response(OrderOutputSerializer(shown, many=True).data, headers=headers)


class CancelOrderApi(APIView):
    """Cancel an order still in progress; compensations run asynchronously (202)."""

    OutputSerializer = OrderOutputSerializer
    success_status = 202

    def post(self, request, order_id):
        with UnitOfWork("orders") as uow:
            services.order_cancel(uow=uow, order_id=order_id, customer_id=customer_id(request))
        order = selectors.order_get(order_id=order_id, customer_id=customer_id(request))
        return Response(OrderOutputSerializer(order).data, status=status.HTTP_202_ACCEPTED)
