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
from lotus.schema import operation_ref
from lotus.throttling.throttles import CustomerThrottle
from orders import selectors, services
from orders.models import Order, Status

ORDER_ID = "$response.body#/orderId"


class TransitionSerializer(serializers.Serializer):
    """One step of the saga: ``{"from", "to", "reason", "at"}`` (``from`` is null for the first)."""

    def get_fields(self):
        # "from" is a keyword, so the fields are listed here rather than as class attributes.
        return {
            "from": serializers.ChoiceField(choices=Status.choices, source="source", allow_null=True),
            "to": serializers.ChoiceField(choices=Status.choices, source="target"),
            "reason": serializers.CharField(),
            "at": serializers.DateTimeField(),
        }

    def to_representation(self, instance):
        body = super().to_representation(instance)
        body["from"] = body["from"] or None
        return body


class OrderOutputSerializer(serializers.Serializer):
    orderId = serializers.UUIDField(source="id")
    status = serializers.ChoiceField(choices=Status.choices)
    idSubscription = serializers.IntegerField(source="product_id")
    price = serializers.DecimalField(max_digits=14, decimal_places=2)
    deliverySlot = serializers.DateTimeField(source="delivery_slot", allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")
    refunded = serializers.DecimalField(max_digits=14, decimal_places=2, help_text="Money given back on cancelling.")
    history = TransitionSerializer(many=True, help_text="Every step of the saga, oldest first.")


# Where an order's id leads next: the links of the responses that carry it.
ORDER_LINKS = {
    "GetOrder": {"operationRef": operation_ref("get", "/order/{order_id}"), "parameters": {"order_id": ORDER_ID}},
    "CancelOrder": {
        "operationRef": operation_ref("post", "/order/{order_id}/cancel"),
        "parameters": {"order_id": ORDER_ID},
    },
    "ListNotifications": {"operationRef": operation_ref("get", "/notification"), "parameters": {"orderId": ORDER_ID}},
    "AcceptDelivery": {"operationRef": operation_ref("put", "/delivery/accept"), "requestBody": {"idOrder": ORDER_ID}},
}


class PlaceThrottle(CustomerThrottle):
    """Orders placed by one customer: ``LOTUS_THROTTLE_PLACE``."""

    service, scope = "orders", "place"


class PlaceOrderApi(APIView):
    """Place an order for a subscription; the saga runs asynchronously (202)."""

    OutputSerializer = OrderOutputSerializer
    success_status = 202
    throttle_classes = [PlaceThrottle]
    response_links = ORDER_LINKS

    class InputSerializer(serializers.Serializer):
        idSubscription = serializers.IntegerField(
            min_value=1, max_value=2_147_483_647, help_text="A product of the catalog; another one answers 400."
        )
        deliverySlot = serializers.DateTimeField(
            required=False,
            allow_null=True,
            help_text="The start of an hour in the future (e.g. 2030-01-01T10:00:00Z); else 400. "
            "Without it the first free slot is booked.",
        )

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
    response_links = ORDER_LINKS

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
    error_statuses = {409: "The order is past the states in which it may be cancelled."}

    def post(self, request, order_id):
        with UnitOfWork("orders") as uow:
            services.order_cancel(uow=uow, order_id=order_id, customer_id=customer_id(request))
        order = selectors.order_get(order_id=order_id, customer_id=customer_id(request))
        return Response(OrderOutputSerializer(order).data, status=status.HTTP_202_ACCEPTED)
