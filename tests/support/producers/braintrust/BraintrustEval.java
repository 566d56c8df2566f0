import dev.braintrust.Braintrust;
import dev.braintrust.config.BraintrustConfig;
import dev.braintrust.eval.DatasetCase;
import dev.braintrust.eval.Score;
import dev.braintrust.eval.Scorer;
import dev.braintrust.eval.TaskResult;
import dev.braintrust.trace.BraintrustTracing;
import io.opentelemetry.context.Context;
import io.opentelemetry.sdk.logs.SdkLoggerProvider;
import io.opentelemetry.sdk.metrics.SdkMeterProvider;
import io.opentelemetry.sdk.trace.ReadWriteSpan;
import io.opentelemetry.sdk.trace.ReadableSpan;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.SpanProcessor;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Braintrust's own Eval, with Braintrust's own OpenTelemetry setup, against the Braintrust API at
 * {@code args[0]} (the test's local sink, which relays the OTLP it gets to otel-scoring serve).
 * Prints, as one JSON line, the ids of the spans Eval made, for the test to check the records by.
 */
public final class BraintrustEval {
    public static void main(String[] args) {
        var config =
                BraintrustConfig.builder()
                        .apiUrl(args[0])
                        .appUrl(args[0])
                        .apiKey("local-sink-key")
                        .defaultProjectName("otel-scoring")
                        .build();
        var braintrust = Braintrust.of(config);
        var tracing = SdkTracerProvider.builder();
        var spans = new Recorder();
        tracing.addSpanProcessor(spans);
        braintrust.openTelemetryEnable(tracing, SdkLoggerProvider.builder(), SdkMeterProvider.builder());
        var provider = tracing.build();

        Scorer<String, String> exact = Scorer.of("exact_match", (expected, output) -> expected.equals(output) ? 1.0 : 0.0);
        Scorer<String, String> style =  // one scorer, two scores: both land in one braintrust.scores object
                new Scorer<>() {
                    public String getName() {
                        return "style";
                    }

                    public List<Score> score(TaskResult<String, String> result) {
                        return List.of(new Score("brevity", 0.25), new Score("politeness", 0.0));
                    }
                };
        braintrust.<String, String>evalBuilder()
                .name("capitals")
                .tracer(BraintrustTracing.getTracer(provider))
                .cases(DatasetCase.of("What is the capital of France?", "Paris"))
                .taskFunction(question -> "Paris")
                .scorers(exact, style)
                .build()
                .run();
        if (!provider.forceFlush().join(30, TimeUnit.SECONDS).isSuccess()) {
            throw new IllegalStateException("Braintrust's span export did not succeed");
        }
        provider.shutdown().join(30, TimeUnit.SECONDS);
        System.out.println(spans.json());
    }

    /** Names and ids of every span that ended, in order. */
    static final class Recorder implements SpanProcessor {
        private final List<String> ended = new ArrayList<>();

        public void onStart(Context parent, ReadWriteSpan span) {}

        public boolean isStartRequired() {
            return false;
        }

        public synchronized void onEnd(ReadableSpan span) {
            var context = span.getSpanContext();
            ended.add(
                    "{\"name\": \"%s\", \"trace_id\": \"%s\", \"span_id\": \"%s\", \"parent_span_id\": \"%s\"}"
                            .formatted(span.getName(), context.getTraceId(), context.getSpanId(), span.getParentSpanContext().getSpanId()));
        }

        public boolean isEndRequired() {
            return true;
        }

        synchronized String json() {
            return "{\"spans\": [" + String.join(", ", ended) + "]}";
        }
    }
}
