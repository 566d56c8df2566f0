"""Run metadata for a payment: the charge on the run, the customer's company, billing and analytics kinds.

``metadata("memo-id").update(values, kind)`` attaches key-value context to the run. The memo id
makes it happen once per run even if the code runs again (a retry re-executing the function).

    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 python examples/payment_metadata.py
"""

from opentelemetry import trace

import otel_scoring
from otel_scoring import metadata

provider = otel_scoring.configure(service_name="shop")
tracer = trace.get_tracer("shop")


def charge_customer(customer_id: str, amount: int) -> dict:
    return {"id": f"ch_{customer_id}", "receipt_url": "https://example.com/r/1"}


def process_order(order: dict) -> None:
    with tracer.start_as_current_span("process-order"):
        with tracer.start_as_current_span("fetch-user"):
            user = {"id": order["customer_id"], "company": "Acme"}
            metadata.update({"company": user["company"]})  # from within a step, no memo id

        with tracer.start_as_current_span("process-payment"):
            charge = charge_customer(order["customer_id"], order["amount"])

        for _attempt in range(2):  # the function re-executes: the memoised update records once
            metadata("record-payment-info").update({"paymentId": charge["id"], "processor": "stripe", "amount": order["amount"]})

        metadata("payment-meta").update({"invoiceId": "inv_123", "total": 99.99}, "billing")
        metadata("tracking-meta").update({"source": "organic", "campaign": "spring-2025"}, "analytics")

        with tracer.start_as_current_span("send-confirmation"):
            pass


if __name__ == "__main__":
    process_order({"customer_id": "cus_42", "amount": 9999})
    provider.shutdown()
