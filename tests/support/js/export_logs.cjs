// Exports two gen_ai.evaluation.result log-based events with the stock OpenTelemetry JS log
// exporters (OTLP/HTTP protobuf or OTLP/gRPC), as tests/test_receiver_logs.py runs it:
//   NODE_PATH=.ci/.node/node_modules node export_logs.cjs http|grpc ENDPOINT TRACE_ID SPAN_ID TOKEN
"use strict";
const { context, trace, TraceFlags } = require("@opentelemetry/api");
const { LoggerProvider, SimpleLogRecordProcessor } = require("@opentelemetry/sdk-logs");
const { resourceFromAttributes } = require("@opentelemetry/resources");

async function main() {
  const [transport, endpoint, traceId, spanId, token] = process.argv.slice(2);
  let exporter;
  if (transport === "grpc") {
    const { OTLPLogExporter } = require("@opentelemetry/exporter-logs-otlp-grpc");
    const grpc = require("@grpc/grpc-js");
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${token}`);
    exporter = new OTLPLogExporter({ url: endpoint, metadata, credentials: grpc.credentials.createInsecure() });
  } else {
    const { OTLPLogExporter } = require("@opentelemetry/exporter-logs-otlp-proto");
    exporter = new OTLPLogExporter({ url: `${endpoint}/v1/logs`, headers: { Authorization: `Bearer ${token}` } });
  }
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ "service.name": "js-evaluator" }),
    processors: [new SimpleLogRecordProcessor({ exporter })],
  });
  const logger = provider.getLogger("evaluations");
  const scored = trace.setSpanContext(context.active(), { traceId, spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true });
  logger.emit({
    eventName: "gen_ai.evaluation.result",
    context: scored,
    attributes: { "gen_ai.evaluation.name": "groundedness", "gen_ai.evaluation.score.value": 0.5, "gen_ai.evaluation.explanation": "half cited" },
  });
  logger.emit({
    eventName: "gen_ai.evaluation.result",
    context: scored,
    attributes: { "gen_ai.evaluation.name": "tone", "gen_ai.evaluation.score.label": "polite" },
  });
  await provider.forceFlush();
  await provider.shutdown();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
