"""HTTP API of the billing service."""

from decimal import Decimal

from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import selectors, services
from billing.models import LedgerEntry
from lotus.api import validated
from lotus.auth import customer_id
from lotus.conf import lotus_settings
from lotus.idempotency.decorators import idempotent
from lotus.throttling.throttles import CustomerThrottle


class TopUpThrottle(CustomerThrottle):
    """Top-ups of one customer: ``LOTUS_THROTTLE_TOP_UP``."""

    service, scope = "billing", "top_up"


class LedgerLineSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=LedgerEntry.Kind.choices)
    amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text="Signed: deposits and refunds add, charges subtract."
    )
    orderId = serializers.UUIDField(source="order_id", allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")


class WaitingChargeSerializer(serializers.Serializer):
    orderId = serializers.UUIDField(source="order_id")
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)


class BalanceOutputSerializer(serializers.Serializer):
    customerId = serializers.IntegerField(source="customer_id")
    balance = serializers.DecimalField(max_digits=14, decimal_places=2)
    ledger = LedgerLineSerializer(many=True)
    waitingCharges = WaitingChargeSerializer(
        source="waiting", many=True, help_text="Orders waiting for enough money, oldest first."
    )


class DepositOutputSerializer(BalanceOutputSerializer):
    deposited = serializers.DecimalField(max_digits=14, decimal_places=2)
    paidOrders = serializers.ListField(child=serializers.UUIDField(), help_text="Waiting orders this top-up paid.")


class AddMoneyApi(APIView):
    """Top up the balance; waiting orders are paid from it, oldest first.

    :func:`idempotent` opens the unit of work, so the answer stored for an Idempotency-Key
    commits with the deposit."""

    OutputSerializer = DepositOutputSerializer
    throttle_classes = [TopUpThrottle]

    class InputSerializer(serializers.Serializer):
        def get_fields(self):
            """``money`` up to ``BILLING["MAX_TOP_UP"]`` as configured now (and in the schema)."""
            largest = Decimal(lotus_settings.BILLING["MAX_TOP_UP"])
            return {
                "money": serializers.DecimalField(
                    max_digits=14,
                    decimal_places=2,
                    min_value=Decimal("0.01"),
                    max_value=largest,
                    help_text="The amount to add, in cents at most (a number, or a decimal string).",
                )
            }

    @idempotent(service="billing")
    def post(self, request, uow):
        amount = validated(self.InputSerializer, request)["money"]
        customer = customer_id(request)
        _, settled = services.account_deposit(uow=uow, customer_id=customer, amount=amount)
        summary = selectors.account_summary(customer_id=customer)
        body = BalanceOutputSerializer(summary).data
        body["deposited"] = amount
        body["paidOrders"] = [str(charge.order_id) for charge in settled]
        return Response(body)


class BalanceApi(APIView):
    OutputSerializer = BalanceOutputSerializer

    def get(self, request):
        return Response(BalanceOutputSerializer(selectors.account_summary(customer_id=customer_id(request))).data)
