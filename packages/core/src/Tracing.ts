/**
 * OpenTelemetry traces through Effect's own OTLP exporter (issue 18). Every span the SDK declares
 * (`Effect.fn`, `withSpan`) — job creation, unit, test, Bedrock call — is exported when the standard
 * `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, under
 * `OTEL_SERVICE_NAME` (`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SDK_DISABLED` and the exporter's other
 * `OTEL_*` settings apply as the OpenTelemetry spec says). Without an endpoint the layer does
 * nothing. The worker process, the facade (`createCertification`, so the Express host and the CLI)
 * provide it; library users add `Tracing.layerFromEnv` to their own program. A host that already
 * runs the OpenTelemetry SDK can provide `@effect/opentelemetry`'s tracer instead.
 *
 * A unit's span continues the trace of the request that created its job: the queue payload
 * carries the W3C `traceparent` of the creating span (ids only, no secret), and the worker makes it
 * the unit span's parent.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Tracer from "effect/Tracer"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as Headers from "effect/http/Headers"
import * as HttpTraceContext from "effect/http/HttpTraceContext"
import * as OtlpSerialization from "effect/observability/OtlpSerialization"
import * as OtlpTracer from "effect/observability/OtlpTracer"

const settings = Config.all({
  disabled: Config.Boolean("OTEL_SDK_DISABLED").pipe(Config.withDefault(false)),
  tracesEndpoint: Config.option(Config.String("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")),
  endpoint: Config.option(Config.String("OTEL_EXPORTER_OTLP_ENDPOINT")),
  // The OpenTelemetry default: export traces over OTLP once an endpoint is set.
  exporter: Config.String("OTEL_TRACES_EXPORTER").pipe(Config.withDefault("otlp")),
  serviceName: Config.option(Config.String("OTEL_SERVICE_NAME")),
  headers: Config.option(Config.String("OTEL_EXPORTER_OTLP_HEADERS")),
  scheduleDelay: Config.option(Config.Int("OTEL_BSP_SCHEDULE_DELAY"))
})

/** `OTEL_EXPORTER_OTLP_ENDPOINT` is a base URL: traces go to its `/v1/traces`. */
const tracesUrl = (base: string): string => `${base.endsWith("/") ? base : `${base}/`}v1/traces`

/** `k1=v1,k2=v2` (values URI-encoded), as the OpenTelemetry spec writes headers. */
const parseHeaders = (text: string): Record<string, string> =>
  Object.fromEntries(
    text.split(",").map((pair) => pair.split("=")).filter((kv) => kv.length >= 2 && kv[0]!.trim() !== "").map((
      [key, ...value]
    ) => [key!.trim(), decodeURIComponent(value.join("=").trim())])
  )

/**
 * Export spans over OTLP/HTTP (JSON) when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, unless `OTEL_SDK_DISABLED=true` or
 * `OTEL_TRACES_EXPORTER` names another exporter; a no-op otherwise. `serviceName` is the default
 * when `OTEL_SERVICE_NAME` is unset. Spans still buffered are flushed when the layer's scope closes.
 */
export const layerFromEnv = (options: { readonly serviceName?: string | undefined } = {}): Layer.Layer<never> =>
  Layer.unwrap(
    Effect.gen(function*() {
      const s = yield* settings
      const url = Option.isSome(s.tracesEndpoint) ? Option.some(s.tracesEndpoint.value) : Option.map(s.endpoint, tracesUrl)
      const exporters = s.exporter.split(",").map((e) => e.trim().toLowerCase())
      if (s.disabled || Option.isNone(url) || !exporters.includes("otlp")) return Layer.empty
      return OtlpTracer.layer({
        url: url.value,
        resource: { serviceName: Option.getOrElse(s.serviceName, () => options.serviceName ?? "myia-certification") },
        ...(Option.isSome(s.headers) ? { headers: parseHeaders(s.headers.value) } : {}),
        ...(Option.isSome(s.scheduleDelay) ? { exportInterval: Duration.millis(s.scheduleDelay.value) } : {})
      }).pipe(Layer.provide(Layer.merge(OtlpSerialization.layerJson, FetchHttpClient.layer)))
    }).pipe(
      // A malformed OTEL_* setting must not stop certification: run untraced and say why.
      Effect.catch((error) => Effect.as(Effect.logWarning(`tracing disabled: ${error.message}`), Layer.empty))
    )
  ) as Layer.Layer<never>

/** The W3C `traceparent` of the current span, to carry in a queue payload; none outside a span. */
export const currentTraceparent: Effect.Effect<string | undefined> = Effect.map(
  Effect.option(Effect.currentSpan),
  Option.match({ onNone: () => undefined, onSome: (span) => HttpTraceContext.toHeaders(span).traceparent })
)

/** The span a `traceparent` names, as a parent for a span in another process. */
export const parentOf = (traceparent: string | undefined): Tracer.ExternalSpan | undefined =>
  traceparent === undefined ? undefined : Option.getOrUndefined(HttpTraceContext.w3c(Headers.fromInput({ traceparent })))
